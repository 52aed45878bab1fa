"""Regression tests for what schemathesis found (``test_fuzz_schemathesis.py``), as minimal requests.

The server is started as in the fuzz test: a tiny Qwen3 classifier with one label, MIS on, one
torch thread. Each test asserts the documented behaviour (README: every bad input is HTTP 400 with
``{"object": "error", "message", "type": "BadRequestError", "code": 400}``, never a 422 or 500;
the server keeps serving).
"""

from __future__ import annotations

import re

import pytest
import requests


TIMEOUT_S = 30
POST_ROUTES = [
    "/v1/score", "/score", "/v1/embeddings", "/pooling", "/classify", "/v1/classify", "/rerank", "/v1/rerank",
    "/v2/rerank",
]
BIG_ID = 2**63  # one past int64: pydantic accepts it as an int, numpy int64 cannot hold it


@pytest.fixture(scope="module")
def server(reranker_mis_server):
    return reranker_mis_server  # shared with the other fuzz module (test/e2e/conftest.py)


def post_raw(server, route: str, data: bytes) -> requests.Response:
    return requests.post(server.url + route, data=data, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_S)


def assert_bad_request(resp: requests.Response, names: str) -> None:
    """HTTP 400, the error envelope, and a message matching the regex ``names`` (the problem)."""
    assert resp.status_code == 400, f"{resp.status_code}: {resp.text[:500]}"
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("object") == "error", body
    assert body.get("type") == "BadRequestError", body
    assert body.get("code") == 400, body
    message = body.get("message")
    assert isinstance(message, str) and re.search(names, message, re.IGNORECASE), body


def assert_still_serving(server) -> None:
    assert requests.get(server.url + "/health", timeout=TIMEOUT_S).status_code == 200
    ok = requests.post(server.url + "/classify", json={"input": "the dog"}, timeout=TIMEOUT_S)
    assert ok.status_code == 200, ok.text


# ---- bodies that are not UTF-8 JSON ---------------------------------------------------------------
# Found: the routes with a pydantic body parameter answer FastAPI's own
#   400 {"detail": "There was an error parsing the body"}
# (no envelope) when the body bytes cannot be decoded: FastAPI's json.loads raises a
# UnicodeDecodeError, not a JSONDecodeError, so it becomes an HTTPException, which has no
# envelope handler. /v1/score and /score parse the body themselves and answer the envelope.

UNDECODABLE_BODIES = {
    "lone_continuation_byte": b"\x80",  # schemathesis' shrunk example
    "invalid_utf8_in_string": b'{"input": "\xff", "query": "\xff", "documents": ["\xff"]}',
    "seventeen_nul_bytes": b"\x00" * 17,  # json.detect_encoding picks UTF-32, which cannot decode 17 bytes
}


@pytest.mark.parametrize("name", sorted(UNDECODABLE_BODIES))
@pytest.mark.parametrize("route", POST_ROUTES)
def test_undecodable_body_is_400_envelope(server, route, name):
    resp = post_raw(server, route, UNDECODABLE_BODIES[name])
    assert_bad_request(resp, r"json|utf-?8|decod")
    assert_still_serving(server)


# ---- token ids beyond int64 -----------------------------------------------------------------------
# Found: {"input": [[9223372036854775808]]} on /classify answered 500 "internal error: Python int
# too large to convert to C long" (OverflowError in check_token_ids); the same for /v1/classify,
# /pooling and token-id /v1/score requests. Fixed in c551ced during this session; kept as regressions.

OVERFLOW_REQUESTS = {
    "classify_nested": ("/classify", {"input": [[BIG_ID]]}),
    "classify_flat": ("/classify", {"input": [BIG_ID]}),
    "v1_classify": ("/v1/classify", {"input": [[BIG_ID]]}),
    "pooling": ("/pooling", {"input": [BIG_ID]}),
    "score_query": ("/v1/score", {"query": [BIG_ID], "items": [[1]]}),
    "score_item": ("/v1/score", {"query": [1], "items": [[BIG_ID]]}),
    "score_item_uint64_max": ("/score", {"query": [1], "items": [[2**64 - 1]]}),
}


@pytest.mark.parametrize("name", sorted(OVERFLOW_REQUESTS))
def test_token_id_beyond_int64_is_400(server, name):
    route, body = OVERFLOW_REQUESTS[name]
    resp = requests.post(server.url + route, json=body, timeout=TIMEOUT_S)
    assert_bad_request(resp, r"token id|valid integer")
    assert_still_serving(server)


# ---- the OpenAPI document ---------------------------------------------------------------------------


def _refs(node, path="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from _refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{path}/{i}")


def _resolves(document: dict, ref: str) -> bool:
    if not ref.startswith("#/"):
        return False
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_openapi_references_resolve(server):
    """Found: /v1/score and /score embed the pydantic schemas whole, with their own ``$defs``, so
    their ``{"$ref": "#/$defs/TextObject"}`` does not resolve against the OpenAPI document
    (schemathesis: "unresolvable reference", and it cannot generate vLLM-style score bodies)."""
    document = requests.get(server.url + "/openapi.json", timeout=TIMEOUT_S).json()
    broken = sorted({ref for where, ref in _refs(document) if not _resolves(document, ref)})
    assert not broken, f"unresolvable $ref in /openapi.json: {broken}"


def test_openapi_documents_400_not_422(server):
    """Found: every POST route documents a 422 ``HTTPValidationError`` response, which the server
    never sends, and none documents the 400 error envelope it does send (schemathesis:
    "Undocumented status code: received 400, documented 200, 422")."""
    document = requests.get(server.url + "/openapi.json", timeout=TIMEOUT_S).json()
    wrong = {}
    for path, operations in document["paths"].items():
        post = operations.get("post")
        if post is None:
            continue
        statuses = set(post.get("responses", {}))
        if "422" in statuses or "400" not in statuses:
            wrong[path] = sorted(statuses)
    assert not wrong, f"POST routes documenting 422 or not documenting 400: {wrong}"


def test_pooling_dimensions_on_a_classifier_is_400(server):
    """Found by the fuzz run: /pooling on a classifier silently ignored ``dimensions``."""
    resp = requests.post(server.url + "/pooling", json={"input": "the dog", "dimensions": 8}, timeout=TIMEOUT_S)
    assert_bad_request(resp, r"'dimensions' applies to embedding models")
    assert_still_serving(server)


def test_unknown_route_and_method_use_the_envelope(server):
    missing = requests.get(server.url + "/v9/nothing", timeout=TIMEOUT_S)
    assert missing.status_code == 404 and missing.json()["object"] == "error" and missing.json()["code"] == 404
    wrong = requests.get(server.url + "/v1/score", timeout=TIMEOUT_S)
    assert wrong.status_code == 405 and wrong.json()["type"] == "MethodNotAllowedError"
