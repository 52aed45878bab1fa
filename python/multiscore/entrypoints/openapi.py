"""The OpenAPI document users and fuzzers read: the error envelope instead of FastAPI's 422, and
the shapes of the routes that take several (SGLang's or vLLM's /v1/score and /classify, Jina's,
TEI's or Infinity's /rerank, vLLM's or TEI's /tokenize, TEI's POST /, OpenAI's or Infinity's
/v1/embeddings) as resolvable component schemas."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from multiscore.entrypoints.protocol import (
    ClassifyRequest,
    EmbeddingRequest,
    InfinityClassifyRequest,
    InfinityEmbeddingRequest,
    InfinityRerankRequest,
    PoolingRequest,
    RerankRequest,
    ScoreRequest,
    SglangEncodeRequest,
    TeiEmbedRequest,
    TeiPredictRequest,
    TeiRerankRequest,
    TeiSimilarityRequest,
    TeiTokenizeRequest,
    TokenizeRequest,
    VllmScoreRequest,
)

_ERROR_FIELDS = {
    "message": {"type": "string"},
    "type": {"type": "string"},
    "param": {"type": ["string", "null"]},
    "code": {"type": "integer"},
}
ERROR_SCHEMA = {  # SGLang's flat fields and OpenAI's nested "error", in one body (protocol.error_body)
    "title": "ErrorResponse",
    "type": "object",
    "required": ["object", "message", "type", "code", "error"],
    "properties": {
        "object": {"type": "string", "const": "error"},
        **_ERROR_FIELDS,
        "error": {"type": "object", "required": ["message", "type", "code"], "properties": _ERROR_FIELDS},
    },
}
# Every POST (and PUT) route can answer these, with the envelope (README "Running in production").
ERROR_STATUSES = {
    "400": "bad input: the message names the field",
    "401": "missing or wrong API key (when the server has one)",
    "413": "body over --max-request-body-bytes",
    "503": "queue full (Retry-After) or the model process is gone",
    "504": "not answered within --request-timeout-s",
}
# Routes that read their body themselves, to take one of several shapes: the shapes they take.
BODY_SHAPES = {
    "/v1/score": (ScoreRequest, VllmScoreRequest),
    "/score": (ScoreRequest, VllmScoreRequest),
    "/rerank": (RerankRequest, TeiRerankRequest, InfinityRerankRequest),
    "/v1/rerank": (RerankRequest, InfinityRerankRequest),
    "/classify": (ClassifyRequest, SglangEncodeRequest, InfinityClassifyRequest),
    "/v1/classify": (ClassifyRequest, InfinityClassifyRequest),
    "/v1/embeddings": (EmbeddingRequest, InfinityEmbeddingRequest),
    "/tokenize": (TokenizeRequest, TeiTokenizeRequest),
    "/": (TeiEmbedRequest, TeiPredictRequest, TeiSimilarityRequest, TeiRerankRequest),
    "/invocations": (ClassifyRequest, EmbeddingRequest, PoolingRequest, RerankRequest, ScoreRequest, VllmScoreRequest),
}


def install_openapi(app: FastAPI) -> None:
    def build() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = build


def _document(app: FastAPI) -> dict:
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorResponse"] = ERROR_SCHEMA
    for model in {m for shapes in BODY_SHAPES.values() for m in shapes}:
        _add_component(schemas, model)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's own; ours is a 400 with the envelope
            if method not in ("post", "put"):  # SGLang's /encode and /classify take PUT as well
                continue
            for status, description in ERROR_STATUSES.items():
                responses[status] = {"description": description, "content": error_ref}
            if path in BODY_SHAPES:
                refs = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in BODY_SHAPES[path]]
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"anyOf": refs}}}}
    return doc


def _add_component(schemas: dict, model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
