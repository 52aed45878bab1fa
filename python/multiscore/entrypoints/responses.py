"""JSON responses and the error envelope shared by every route."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Optional

import orjson
from fastapi import Request
from fastapi.responses import Response

from multiscore.entrypoints.protocol import error_body


def json_response(body: dict, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


@dataclass
class Usage:
    """What the access log and /metrics record of an answered request."""

    items: int  # items, documents or inputs scored
    tokens: int  # prompt tokens forwarded


# orjson reads an integer past 2**64 as a float: such a body (a run of 20 digits) is parsed by Python's
# json, which keeps it exact, so that a token id that large is refused as outside the vocabulary.
_LONG_NUMBER = re.compile(rb"\d{20}")


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")  # as orjson: no NaN / Infinity


async def json_object(request: Request) -> dict:
    raw = await request.body()
    try:
        body = json.loads(raw, parse_constant=_no_constants) if _LONG_NUMBER.search(raw) else orjson.loads(raw)
    except ValueError as e:  # orjson's JSONDecodeError, json's, a bad UTF-8 byte
        raise ValueError(f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    return body


def answered(request: Request, body, *, items: int, tokens: int) -> Response:
    """A route's JSON answer; the usage goes in the request's state, where RequestGate reads it."""
    request.state.usage = Usage(items, tokens)
    return json_response(body)


class ModelNotFound(ValueError):
    """The request names a model this server does not serve (vLLM answers 404)."""


def check_model(requested: Optional[str], served: tuple[str, ...]) -> None:
    """``served``: every name the model answers to (--served-model-name's)."""
    if requested is not None and requested not in served:
        raise ModelNotFound(f"The model `{requested}` does not exist.")


def bad_request(message: str, param: Optional[str] = None) -> Response:
    return json_response(error_body(message, 400, "BadRequestError", param), 400)


# pydantic error types whose field takes one of a few values: the message repeats the refused one.
_CHOICE_ERRORS = {"literal_error", "enum"}


def validation_error(errors: list[dict]) -> tuple[str, Optional[str]]:
    """pydantic / FastAPI validation errors -> (one line naming the fields, the first field)."""
    parts, params = [], []
    for err in errors:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        if err.get("type") == "json_invalid":
            return f"request body is not valid JSON: {err.get('msg')}", None
        message = f"{loc or 'body'}: {err.get('msg')}"
        if err.get("type") in _CHOICE_ERRORS:  # name the refused value, and pydantic's error type as vLLM does
            message += f" [{err.get('type')}], got {err.get('input')!r}"
        parts.append(message)
        params.append(loc or None)
    # Unions report one error per alternative; keep the first few, they name the field.
    return "invalid request: " + "; ".join(dict.fromkeys(parts[:4])), (params[0] if params else None)


def usage(prompt_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens, "completion_tokens": 0}


def response_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())
