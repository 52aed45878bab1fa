"""Hugging Face text-embeddings-inference's routes, for its clients (huggingface_hub's
InferenceClient among them): /embed, /embed_all, /embed_sparse (SPLADE models), /predict,
/similarity, /decode, GET /info, and POST / (TEI's route that answers by the model's kind). TEI's
/rerank body (``texts``) shares /rerank with Jina's and Cohere's (``documents``), and its /tokenize
body (``inputs``) /tokenize with vLLM's (``prompt``): pooling_routes.py and tokenize_routes.py
dispatch on the body's fields."""

from __future__ import annotations

from fastapi import FastAPI, Request

from multiscore.configs.model_kind import Task
from multiscore.entrypoints.protocol import (
    TeiDecodeRequest,
    TeiEmbedAllRequest,
    TeiEmbedRequest,
    TeiEmbedSparseRequest,
    TeiPredictRequest,
    TeiRerankRequest,
    TeiSimilarityRequest,
    TeiTokenizeRequest,
)
from multiscore.entrypoints.responses import answered, json_object, json_response
from multiscore.entrypoints.runtime import Runtime


def add_tei_routes(app: FastAPI, runtime: Runtime, served_model: str):
    """Adds TEI's routes; returns its /rerank and /tokenize handlers, which /rerank and /tokenize dispatch to."""
    tei, args = runtime.tei, runtime.server_args

    async def embed(req: TeiEmbedRequest, request: Request):
        result = await tei.embed(
            req.inputs, normalize=req.normalize, truncate=tei.truncates(req.truncate),
            truncation_direction=req.truncation_direction, dimensions=req.dimensions, prompt_name=req.prompt_name,
        )
        return answered(request, result.data, items=len(result.data), tokens=result.prompt_tokens)

    async def embed_sparse(req: TeiEmbedSparseRequest, request: Request):
        result = await tei.embed_sparse(req.inputs, truncate=tei.truncates(req.truncate),
                                        truncation_direction=req.truncation_direction, prompt_name=req.prompt_name)
        return answered(request, result.data, items=len(result.data), tokens=result.prompt_tokens)

    async def embed_all(req: TeiEmbedAllRequest, request: Request):
        result = await tei.embed_all(req.inputs, truncate=tei.truncates(req.truncate),
                                     truncation_direction=req.truncation_direction,
                                     prompt_name=req.prompt_name)
        return answered(request, result.data, items=len(result.data), tokens=result.prompt_tokens)

    async def tokenize(req: TeiTokenizeRequest, request: Request):
        return json_response(tei.tokenize(req.inputs, add_special_tokens=req.add_special_tokens, prompt_name=req.prompt_name))

    async def decode(req: TeiDecodeRequest):
        return json_response(tei.decode(req.ids, skip_special_tokens=req.skip_special_tokens))

    async def predict(req: TeiPredictRequest, request: Request):
        ranked, tokens = await tei.predict(req.inputs, raw_scores=req.raw_scores, truncate=tei.truncates(req.truncate))
        return answered(request, ranked, items=len(ranked), tokens=tokens)

    async def similarity(req: TeiSimilarityRequest, request: Request):
        scores, tokens = await tei.similarity(
            req.inputs.source_sentence, req.inputs.sentences, truncate=tei.truncates(req.truncate)
        )
        return answered(request, scores, items=len(scores), tokens=tokens)

    async def rerank(req: TeiRerankRequest, request: Request):
        ranked, tokens = await tei.rerank(
            req.query, req.texts, raw_scores=req.raw_scores, return_text=req.return_text,
            truncate=tei.truncates(req.truncate),
        )
        return answered(request, ranked, items=len(req.texts), tokens=tokens)

    async def info():
        ready = runtime.scheduler.ready
        return json_response(tei.info(
            model_id=served_model, dtype=ready.dtype, version=app.version, max_batch_tokens=args.max_prefill_tokens,
            max_client_batch_size=args.max_items_per_request, max_concurrent_requests=args.max_queued_requests,
        ))

    async def by_model_kind(request: Request):
        """TEI's POST /: rerank for a query with texts, similarity for a source sentence, else the
        model's own output (embeddings, or class scores)."""
        body = await json_object(request)
        if "texts" in body:
            return await rerank(TeiRerankRequest.model_validate(body), request)
        if isinstance(body.get("inputs"), dict):
            return await similarity(TeiSimilarityRequest.model_validate(body), request)
        if Task.EMBED in runtime.model_config.tasks:
            return await embed(TeiEmbedRequest.model_validate(body), request)
        return await predict(TeiPredictRequest.model_validate(body), request)

    app.post("/embed")(embed)
    app.post("/embed_all")(embed_all)
    app.post("/embed_sparse")(embed_sparse)
    app.post("/decode")(decode)
    app.post("/predict")(predict)
    app.post("/similarity")(similarity)
    app.get("/info")(info)
    app.post("/")(by_model_kind)
    return rerank, tokenize
