"""Routes of the APIs users already call: vLLM classify / score / pooling, OpenAI embeddings,
Jina and Cohere rerank."""

from __future__ import annotations

import base64

import numpy as np
from fastapi import FastAPI

from multiscore.entrypoints.protocol import (
    ClassifyRequest,
    EmbeddingRequest,
    PoolingRequest,
    RerankRequest,
    VllmScoreRequest,
    text_of,
)
from multiscore.entrypoints.responses import json_response, now, response_id, usage
from multiscore.entrypoints.serving.score_service import ScoreService


def encode_vector(vector: list[float], encoding_format: str):
    """OpenAI's ``base64``: the float32 little-endian bytes, base64-encoded (what the SDK decodes)."""
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector


def add_pooling_routes(app: FastAPI, service: ScoreService, served_model: str):
    """Adds /classify, /rerank, /v1/embeddings, /pooling and friends; returns the vLLM-score handler that /v1/score dispatches to."""

    def model_of(req) -> str:
        return req.model or served_model

    async def classify(req: ClassifyRequest):
        result = await service.classify(req.input, req.use_activation, req.truncate_prompt_tokens, req.add_special_tokens)
        data = [
            {"index": c.index, "label": c.label, "probs": c.probs, "num_classes": c.num_classes} for c in result.data
        ]
        return json_response({
            "id": response_id("classify"), "object": "list", "created": now(), "model": model_of(req),
            "data": data, "usage": usage(result.prompt_tokens),
        })

    async def vllm_score(req: VllmScoreRequest):
        queries, documents = req.sides()
        result = await service.score_pairs(queries, documents, req.use_activation, req.truncate_prompt_tokens, req.instruction)
        data = [{"index": i, "object": "score", "score": s} for i, s in enumerate(result.scores)]
        return json_response({
            "id": response_id("score"), "object": "list", "created": now(), "model": model_of(req),
            "data": data, "usage": usage(result.prompt_tokens),
        })

    async def rerank(req: RerankRequest, cohere_v2: bool = False):
        out = await service.rerank(
            req.query, [text_of(d) for d in req.documents], req.top_n, req.max_tokens_per_doc,
            req.return_documents is not False, req.use_activation, req.instruction,
        )
        results = []
        for r in out.results:
            entry = {"index": r.index, "relevance_score": r.relevance_score}
            if r.document is not None:
                entry["document"] = {"text": r.document}
            results.append(entry)
        body = {"id": response_id("rerank"), "model": model_of(req), "usage": usage(out.prompt_tokens), "results": results}
        if cohere_v2:
            # Cohere bills one search unit per query and up to 100 documents.
            units = -(-len(req.documents) // 100)
            body["meta"] = {"api_version": {"version": "2"}, "billed_units": {"search_units": units}}
        return body

    async def rerank_v1(req: RerankRequest):
        return json_response(await rerank(req))

    async def rerank_v2(req: RerankRequest):
        return json_response(await rerank(req, cohere_v2=True))

    async def embeddings(req: EmbeddingRequest):
        result = await service.embed(req.input, req.dimensions, req.truncate_prompt_tokens, req.add_special_tokens)
        data = [
            {"object": "embedding", "index": i, "embedding": encode_vector(v, req.encoding_format)}
            for i, v in enumerate(result.embeddings)
        ]
        return json_response({
            "id": response_id("embd"), "object": "list", "created": now(), "model": model_of(req),
            "data": data, "usage": usage(result.prompt_tokens),
        })

    async def pooling(req: PoolingRequest):
        """The model's pooled output: embeddings for embedding models, class probabilities for classifiers."""
        if service.model_config.is_embedding:
            result = await service.embed(req.input, req.dimensions, req.truncate_prompt_tokens, req.add_special_tokens)
            vectors, tokens = result.embeddings, result.prompt_tokens
        else:
            if req.dimensions is not None:
                raise ValueError("'dimensions' applies to embedding models; this one is a classifier")
            result = await service.classify(req.input, req.use_activation, req.truncate_prompt_tokens, req.add_special_tokens)
            vectors, tokens = [c.probs for c in result.data], result.prompt_tokens
        data = [
            {"index": i, "object": "pooling", "data": encode_vector(v, req.encoding_format)} for i, v in enumerate(vectors)
        ]
        return json_response({
            "id": response_id("pool"), "object": "list", "created": now(), "model": model_of(req),
            "data": data, "usage": usage(tokens),
        })

    app.post("/v1/embeddings")(embeddings)
    app.post("/pooling")(pooling)
    for path in ("/classify", "/v1/classify"):
        app.post(path)(classify)
    for path in ("/rerank", "/v1/rerank"):
        app.post(path)(rerank_v1)
    app.post("/v2/rerank")(rerank_v2)
    return vllm_score
