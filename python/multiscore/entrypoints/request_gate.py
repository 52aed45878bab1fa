"""RequestGate: the ASGI middleware every HTTP request passes through.

In order: a request id; the API key (every route but /health and /ping); the body, read whole up to
--max-request-body-bytes (413 beyond) and always parsed as JSON (``curl -d`` sends a form content
type); the LoRA adapter its ``model`` (vLLM) or ``lora_path`` (SGLang) names, with --lora-modules;
the route run as a task that is cancelled if the client disconnects, which drops the
request's queued work in the scheduler; then one access-log line (id, route, status, items,
tokens, latency — never the prompt text) and the metrics.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from typing import Optional

import orjson

from multiscore.entrypoints.metrics import ServerMetrics
from multiscore.entrypoints.protocol import error_body
from multiscore.entrypoints.responses import Usage
from multiscore.tokenizer.tokenizer_manager import REQUEST_ADAPTER

logger = logging.getLogger("multiscore.access")

OPEN_PATHS = frozenset({"/health", "/ping"})  # answered without the API key (load balancers and SageMaker probe them)


class RequestGate:
    def __init__(
        self, app, api_key: Optional[str], max_body_bytes: int, metrics: ServerMetrics, routes: frozenset[str],
        adapters: Optional[dict[str, int]] = None, unloaded: frozenset = frozenset(),
    ) -> None:
        """``adapters``: LoRA adapter name (and path) -> index, for the request's ``model`` (vLLM) or
        ``lora_path`` (SGLang) to pick one; ``unloaded``: adapter names unloaded since. Both are the
        tokenizer manager's own, so adapters loaded while serving count at once."""
        self.app = app
        self.adapters = adapters if adapters is not None else {}
        self.unloaded = unloaded
        self.expected_auth = f"Bearer {api_key}".encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = uuid.uuid4().hex[:16]
        route = scope["path"] if scope["path"] in self.routes else "other"  # bounded label values
        status = {"code": 0}
        # The route's ``request.state``: answered() leaves the request's Usage there.
        state = dict(scope.get("state") or {})
        scope = dict(scope, state=state)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = dict(message, headers=list(message.get("headers", [])) + [(b"x-request-id", rid.encode())])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            error = self._check_auth(scope)
            app_scope, app_receive = scope, receive
            if error is None and scope["method"] == "POST":
                body, error = await self._read_body(scope, receive)
                # Parsed here only when the body may name an adapter ((un)loading one names it for no work).
                names_one = b'"lora_path"' in body or ((self.adapters or self.unloaded) and b'"model"' in body)
                if error is None and names_one and not scope["path"].endswith("lora_adapter"):
                    error = self._pick_adapter(body)
                if error is None:
                    app_scope, app_receive = _as_json(scope, body, receive)
            if error is not None:
                await _send_error(send_with_id, *error)
            else:
                await self._run_until_disconnect(app_scope, app_receive, receive, send_with_id)
        except Exception:
            status["code"] = status["code"] or 500  # answered by Starlette's outermost error handler
            raise
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            usage = state.get("usage") or Usage(items=0, tokens=0)
            self.metrics.observe(route, status["code"], seconds, usage.items, usage.tokens)
            logger.info(
                "request id=%s method=%s route=%s status=%s items=%d tokens=%d latency_ms=%.1f",
                rid, scope["method"], scope["path"], status["code"] or "disconnected", usage.items,
                usage.tokens, seconds * 1e3,
            )

    def _check_auth(self, scope) -> Optional[tuple]:
        if self.expected_auth is None or scope["path"] in OPEN_PATHS:
            return None
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected_auth):  # constant time: no timing oracle on the key
            return None
        return 401, "AuthenticationError", "missing or wrong API key: send 'Authorization: Bearer <key>'", [
            (b"www-authenticate", b"Bearer")
        ]

    def _pick_adapter(self, body: bytes) -> Optional[tuple]:
        """The adapter the body names, set for the request's work (REQUEST_ADAPTER); a 400 for an
        unknown ``lora_path``. A ``model`` that names no adapter is the route's to judge."""
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # the route answers the bad JSON
        if not isinstance(fields, dict):
            return None
        lora = fields.get("lora_path")
        if isinstance(lora, list):  # SGLang's per-input list: one adapter per request here
            if len(set(map(str, lora))) > 1:
                return 400, "BadRequestError", "lora_path: give one adapter for the whole request", []
            lora = lora[0] if lora else None
        if lora is not None:
            if lora not in self.adapters:
                return 400, "BadRequestError", (f"lora_path {lora!r} is not a served adapter; served: "
                                                f"{', '.join(sorted(set(self.adapters)))}"), []
            REQUEST_ADAPTER.set(self.adapters[lora])
        elif isinstance(fields.get("model"), str) and fields["model"] in self.adapters:
            REQUEST_ADAPTER.set(self.adapters[fields["model"]])
        elif fields.get("model") in self.unloaded:  # never the base model's scores for an adapter's name
            return 404, "NotFoundError", f"The model `{fields['model']}` does not exist.", []
        return None

    async def _read_body(self, scope, receive) -> tuple[bytes, Optional[tuple]]:
        too_large = (
            413, "RequestTooLargeError",
            f"request body larger than --max-request-body-bytes={self.max_body_bytes}", [],
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return b"", too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", (499, "ClientDisconnected", "client disconnected", [])
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                body = b"".join(chunks)
                try:
                    body.decode("utf-8")  # JSON is UTF-8: say so here, not with a parser's odd message
                except UnicodeDecodeError as e:
                    return b"", (400, "BadRequestError", f"request body is not valid JSON: not UTF-8 ({e})", [])
                return body, None

    async def _run_until_disconnect(self, scope, app_receive, server_receive, send) -> None:
        """Run the route; if the client goes away first, cancel it (its queued work is dropped)."""
        route = asyncio.ensure_future(self.app(scope, app_receive, send))
        # After the body, the server's receive() only returns once the client disconnects (or the
        # response is complete): a cheap watcher.
        watcher = asyncio.ensure_future(server_receive())
        try:
            await asyncio.wait({route, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not route.done():
                if watcher.result().get("type") == "http.disconnect":
                    self.metrics.disconnects.inc()
                    route.cancel()
                await asyncio.gather(route, return_exceptions=True)
            else:
                route.result()  # re-raise what the route raised
        finally:
            watcher.cancel()


def _as_json(scope, body: bytes, receive):
    """A scope whose content type is JSON and a receive that replays the body once, then waits for
    the client's disconnect on the server's own receive."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
    scope = dict(scope, headers=headers + [(b"content-type", b"application/json")])
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return scope, replay


async def _send_error(send, code: int, error_type: str, message: str, headers: list) -> None:
    body = orjson.dumps(error_body(message, code, error_type))
    await send({
        "type": "http.response.start", "status": code,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": body})
