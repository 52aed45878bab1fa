"""One request through the server's own ASGI app, in process (no socket): offline batch lines get
exactly the status and body the online route answers."""

from __future__ import annotations

import asyncio


async def call_app(app, method: str, path: str, body: bytes, headers: tuple = ()) -> tuple[int, bytes, list]:
    """-> (HTTP status, response body, response headers as (name, value) byte pairs). ``headers``:
    the request's own, beyond content type and length (e.g. an Authorization header)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0),
    }
    delivered = False

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the caller never disconnects

    status, chunks, response_headers = 500, [], []

    async def send(message):
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status, response_headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks), response_headers
