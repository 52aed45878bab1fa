"""Cohere's embed routes, for its SDK (``cohere.ClientV2().embed`` -> ``POST /v2/embed``,
``cohere.Client().embed`` -> ``POST /v1/embed``) and vLLM's clients of the same route. Their
meaning lives in serving/cohere_embed.py; Cohere's rerank routes are in pooling_routes.py.

v2 answers ``embeddings`` by type (``{"float": [...], "binary": [...]}``); v1 answers a plain list of
float vectors (``response_type: embeddings_floats``) unless the body asks for ``embedding_types``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from multiscore.entrypoints.protocol import CohereEmbedRequest
from multiscore.entrypoints.responses import answered, response_id
from multiscore.entrypoints.runtime import Runtime
from multiscore.entrypoints.serving.cohere_embed import CohereEmbedServing


def add_cohere_routes(app: FastAPI, runtime: Runtime) -> None:
    cohere = CohereEmbedServing(runtime.embed, runtime.model_config)

    async def embed(req: CohereEmbedRequest, request: Request, version: str):
        texts = req.text_inputs()
        by_type = version == "2" or req.embedding_types is not None
        result = await cohere.embed(
            texts, input_type=req.input_type, embedding_types=req.embedding_types or ["float"], truncate=req.truncate,
            max_tokens=req.max_tokens, output_dimension=req.output_dimension,
        )
        tokens = result.input_tokens
        body = {
            "id": response_id("embd"),
            "response_type": "embeddings_by_type" if by_type else "embeddings_floats",
            "embeddings": result.embeddings if by_type else result.embeddings["float"],
            "texts": texts,
            # Cohere bills input tokens; vLLM's answer reports them under ``tokens``.
            "meta": {"api_version": {"version": version}, "billed_units": {"input_tokens": tokens},
                     "tokens": {"input_tokens": tokens}},
        }
        return answered(request, body, items=len(texts), tokens=tokens)

    async def embed_v2(req: CohereEmbedRequest, request: Request):
        return await embed(req, request, "2")

    async def embed_v1(req: CohereEmbedRequest, request: Request):
        return await embed(req, request, "1")

    app.post("/v2/embed")(embed_v2)
    app.post("/v1/embed")(embed_v1)
