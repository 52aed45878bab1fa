"""The FastAPI app: error handlers, SGLang's /v1/score, and the route modules (info_routes.py: health,
info, metrics; pooling, TEI and tokenize routes). Routes stay thin: body -> protocol model
(protocol.py) -> one serving method (serving/) -> JSON, with the request's usage recorded for the
access log and metrics (RequestGate)."""

from __future__ import annotations

import logging
import time

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from multiscore.configs.model_kind import Task
from multiscore.entrypoints.cohere_routes import add_cohere_routes
from multiscore.entrypoints.infinity_routes import add_infinity_routes
from multiscore.entrypoints.info_routes import add_info_routes
from multiscore.entrypoints.lora_routes import add_lora_routes
from multiscore.entrypoints.metrics import ServerMetrics
from multiscore.entrypoints.openapi import install_openapi
from multiscore.entrypoints.pooling_routes import add_pooling_routes
from multiscore.entrypoints.protocol import (
    ClassifyRequest,
    EmbeddingRequest,
    PoolingRequest,
    ScoreRequest,
    VllmScoreRequest,
    error_body,
)
from multiscore.entrypoints.request_gate import RequestGate
from multiscore.entrypoints.sglang_routes import add_sglang_routes
from multiscore.entrypoints.tei_routes import add_tei_routes
from multiscore.entrypoints.tokenize_routes import add_tokenize_routes
from multiscore.entrypoints.responses import (
    ModelNotFound,
    answered,
    bad_request,
    json_object,
    json_response,
    usage,
    validation_error,
)
from multiscore.entrypoints.runtime import Runtime
from multiscore.entrypoints.serving.embed import POOLING_TASKS
from multiscore.tokenizer.tokenizer_manager import Overloaded, RequestTimedOut, SchedulerUnavailable

logger = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> FastAPI:
    args, model_config = runtime.server_args, runtime.model_config
    app = FastAPI(title="multiscore", version="0.1.0")
    metrics = ServerMetrics()
    created = int(time.time())

    @app.exception_handler(RequestValidationError)
    async def _on_validation_error(request: Request, exc: RequestValidationError):
        return bad_request(*validation_error(exc.errors()))

    @app.exception_handler(pydantic.ValidationError)
    async def _on_model_error(request: Request, exc: pydantic.ValidationError):
        return bad_request(*validation_error(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _on_http_exception(request: Request, exc: StarletteHTTPException):
        # FastAPI's own errors (a body it cannot decode, an unknown route, a wrong method), enveloped.
        if exc.status_code == 400:
            return bad_request(f"request body is not valid JSON: {exc.detail}")
        error_type = {404: "NotFoundError", 405: "MethodNotAllowedError"}.get(exc.status_code, "HTTPError")
        return json_response(error_body(str(exc.detail), exc.status_code, error_type), exc.status_code)

    @app.exception_handler(ModelNotFound)
    async def _on_model_not_found(request: Request, exc: ModelNotFound):
        return json_response(error_body(str(exc), 404, "NotFoundError", "model"), 404)

    @app.exception_handler(ValueError)
    async def _on_value_error(request: Request, exc: ValueError):
        return bad_request(str(exc))

    @app.exception_handler(Overloaded)
    async def _on_overloaded(request: Request, exc: Overloaded):
        response = json_response(error_body(str(exc), 503, "ServiceUnavailableError"), 503)
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(RequestTimedOut)
    async def _on_timeout(request: Request, exc: RequestTimedOut):
        return json_response(error_body(str(exc), 504, "TimeoutError"), 504)

    @app.exception_handler(SchedulerUnavailable)
    async def _on_unavailable(request: Request, exc: SchedulerUnavailable):
        return json_response(error_body(str(exc), 503, "ServiceUnavailableError"), 503)

    @app.exception_handler(Exception)
    async def _on_internal_error(request: Request, exc: Exception):
        logger.exception("internal error on %s", request.url.path)
        return json_response(error_body(f"internal error: {exc}", 500, "InternalServerError"), 500)

    add_info_routes(app, runtime, metrics, created)

    async def score(request: Request):
        """SGLang's body (``query``/``items``) or vLLM's (``text_1``/``text_2``, ``queries``/``documents``, ...)."""
        body = await json_object(request)
        if VllmScoreRequest.matches(body):
            return await vllm_score(VllmScoreRequest.model_validate(body), request)
        req = ScoreRequest.model_validate(body)
        result = await runtime.scores.score(
            req.query, req.items, label_token_ids=req.label_token_ids, apply_softmax=req.apply_softmax,
            item_first=req.item_first, embed_override_token_id=req.embed_override_token_id,
            query_embed_overrides=req.query_embed_overrides, item_embed_overrides=req.item_embed_overrides,
            return_pooled_hidden_states=req.return_pooled_hidden_states, priority=req.priority or 0,
        )
        return answered(request, {
            "scores": result.scores, "model": req.model, "object": "scoring", "usage": usage(result.prompt_tokens),
            "pooled_hidden_states": result.pooled_hidden_states,
        }, items=len(result.scores), tokens=result.prompt_tokens)

    for path in ("/v1/score", "/score"):
        app.post(path)(score)
    tei_rerank, tei_tokenize = add_tei_routes(app, runtime, args.model_name)
    sglang_classify = add_sglang_routes(app, runtime)
    infinity = add_infinity_routes(app, runtime, args.model_name)
    add_cohere_routes(app, runtime)
    handlers = add_pooling_routes(app, runtime, args.model_name, tei_rerank, sglang_classify, infinity)
    vllm_score = handlers["vllm_score"]

    @app.post("/invocations")
    async def invocations(request: Request):
        """SageMaker's one route, as vLLM serves it: the body's fields pick the API."""
        body = await json_object(request)
        if "task" in body and (body["task"] in POOLING_TASKS or "input" not in body):  # a Jina task: embeddings
            return await handlers["pooling"](PoolingRequest.model_validate(body), request)
        if "query" in body and ("documents" in body or "texts" in body):
            return await handlers["rerank"](request)
        if "items" in body or VllmScoreRequest.matches(body):
            return await score(request)
        if "input" in body or "messages" in body:
            if Task.EMBED in model_config.tasks:
                return await handlers["embeddings"](EmbeddingRequest.model_validate(body), request)
            return await handlers["classify"](ClassifyRequest.model_validate(body), request)
        raise ValueError(
            "the body matches no API: give 'input' or 'messages' (classify / embeddings), 'task' (pooling), "
            "'query' with 'documents' (rerank), or the fields of /v1/score"
        )
    add_tokenize_routes(app, runtime, tei_tokenize)
    add_lora_routes(app, runtime)
    install_openapi(app)
    app.add_middleware(
        RequestGate, api_key=args.api_key, max_body_bytes=args.max_request_body_bytes, metrics=metrics,
        routes=frozenset(route.path for route in app.routes), adapters=runtime.tokenizer_manager.adapter_keys,
        unloaded=runtime.tokenizer_manager.unloaded_adapters,
    )
    return app
