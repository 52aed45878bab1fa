"""Infinity's routes (michaelfeil/infinity), for its clients (``infinity_client`` among them):
``POST /embeddings`` and ``GET /models``, and its bodies on the routes it shares with other APIs:
``/rerank`` and ``/classify`` (and their ``/v1/`` twins, for a server run with ``--url-prefix /v1``)
when the body carries ``raw_scores``, ``/v1/embeddings`` when it carries ``modality``
(pooling_routes.py dispatches).

Infinity's meaning, kept here: every input is cut to the model's input length (sentence-transformers'
truncation, keeping the start) instead of being refused; embeddings are L2-normalised
(``dimensions`` > 0 keeps that many values, renormalised; 0 keeps all); rerank and classify scores
are the classifier's sigmoid (one label) or softmax unless ``raw_scores``; rerank documents come
back as strings, and classify answers every label of every input, best first.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from multiscore.configs.model_kind import Task
from multiscore.entrypoints.encoding import encode_vector
from multiscore.entrypoints.protocol import InfinityClassifyRequest, InfinityEmbeddingRequest, InfinityRerankRequest
from multiscore.entrypoints.responses import answered, json_response, now, response_id, usage
from multiscore.entrypoints.runtime import Runtime
from multiscore.entrypoints.serving.classify import ranked_labels

# Infinity's capability names, by the task that provides each.
_CAPABILITIES = {Task.EMBED: "embed", Task.SCORE: "rerank", Task.CLASSIFY: "classify"}


def add_infinity_routes(app: FastAPI, runtime: Runtime, served_model: str) -> dict:
    """Adds /embeddings and /models; returns the rerank, classify and embeddings handlers that the
    shared routes dispatch Infinity's bodies to."""
    tei, scores, cfg = runtime.tei, runtime.scores, runtime.model_config

    def envelope(object_name: str, data_key: str, data: list, prompt_tokens: int) -> dict:
        return {"object": object_name, data_key: data, "model": served_model, "usage": usage(prompt_tokens),
                "id": response_id("infinity"), "created": now()}

    async def embeddings(req: InfinityEmbeddingRequest, request: Request):
        if req.modality != "text":
            raise ValueError(f"modality {req.modality!r} is not supported: this server embeds text (modality 'text')")
        if req.dimensions < 0:
            raise ValueError("'dimensions' must be 0 (the whole embedding) or a positive number of values")
        result = await tei.embed(req.input, normalize=True, truncate=True, dimensions=req.dimensions or None)
        data = [{"object": "embedding", "embedding": encode_vector(v, req.encoding_format, "float32", "little"), "index": i}
                for i, v in enumerate(result.data)]
        return answered(request, envelope("list", "data", data, result.prompt_tokens),
                        items=len(data), tokens=result.prompt_tokens)

    async def rerank(req: InfinityRerankRequest, request: Request):
        if not req.documents:
            raise ValueError("'documents' must not be empty")
        if req.top_n is not None and req.top_n < 1:
            raise ValueError("'top_n' must be a positive integer (or absent for every document)")
        out = await scores.rerank(
            req.query, req.documents, top_n=req.top_n, return_documents=req.return_documents,
            use_activation=False if req.raw_scores else None, truncate_prompt_tokens=cfg.context_length, rule="default",
        )
        results = [{"relevance_score": r.relevance_score, "index": r.index, "document": r.document} for r in out.results]
        return answered(request, envelope("rerank", "results", results, out.prompt_tokens),
                        items=len(req.documents), tokens=out.prompt_tokens)

    async def classify(req: InfinityClassifyRequest, request: Request):
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts:
            raise ValueError("'input' must not be empty")
        result = await runtime.classify.classify(
            texts, use_activation=False if req.raw_scores else None, truncate_prompt_tokens=cfg.context_length,
            keep_start=True,
        )
        ranked = [ranked_labels(cfg, c.probs) for c in result.data]
        return answered(request, envelope("classify", "data", ranked, result.prompt_tokens),
                        items=len(texts), tokens=result.prompt_tokens)

    async def models():
        """Infinity's model list: one entry, with its capabilities and the queue's state."""
        in_flight, limit = runtime.tokenizer_manager.requests_in_flight, runtime.server_args.max_queued_requests
        entry = {
            "id": served_model, "object": "model", "created": now(), "backend": "multiscore",
            "capabilities": sorted(name for task, name in _CAPABILITIES.items() if task in cfg.tasks),
            "stats": {"queue_fraction": in_flight / limit, "queue_absolute": in_flight, "results_pending": in_flight},
        }
        return json_response({"object": "list", "data": [entry]})

    app.post("/embeddings")(embeddings)
    app.get("/models")(models)
    return {"rerank": rerank, "classify": classify, "embeddings": embeddings}
