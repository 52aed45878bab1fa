"""Routes of the APIs users already call: vLLM classify / score / pooling, OpenAI embeddings,
Jina and Cohere rerank. /classify also takes SGLang's body (sglang_routes.py), /rerank TEI's, and
/classify, /rerank, their /v1/ twins and /v1/embeddings Infinity's (infinity_routes.py)."""

from __future__ import annotations

from fastapi import FastAPI, Request

from multiscore.configs.model_kind import ModelKind
from multiscore.entrypoints.protocol import (
    ClassifyRequest,
    EmbeddingRequest,
    GenerativeScoreRequest,
    InfinityClassifyRequest,
    InfinityEmbeddingRequest,
    InfinityRerankRequest,
    PoolingRequest,
    RerankRequest,
    SglangEncodeRequest,
    TeiRerankRequest,
    VllmScoreRequest,
    text_of,
)
from multiscore.entrypoints.encoding import binary_response, encode_vector, is_binary
from multiscore.entrypoints.responses import Usage, answered, json_object, now, response_id, usage
from multiscore.entrypoints.runtime import Runtime
from multiscore.entrypoints.serving.cohere_embed import typed_embeddings
from multiscore.entrypoints.serving.late_chunking import late_chunk_embeddings


def add_pooling_routes(app: FastAPI, runtime: Runtime, served_model: str, tei_rerank, sglang_classify,
                       infinity: dict) -> dict:
    """Adds /classify, /rerank, /v1/embeddings, /pooling and friends; returns their handlers by name
    (for /v1/score's vLLM bodies and /invocations). /rerank also takes TEI's body (``texts``), which
    ``tei_rerank`` answers; /classify SGLang's (``text`` / ``input_ids``), which ``sglang_classify``
    answers; Infinity's bodies go to ``infinity``'s handlers (rerank, classify, embeddings)."""

    def model_of(req) -> str:
        return req.model or served_model

    def listed(kind: str, req, data: list, prompt_tokens: int) -> dict:
        """vLLM's / OpenAI's list envelope."""
        return {
            "id": response_id(kind), "object": "list", "created": now(), "model": model_of(req),
            "data": data, "usage": usage(prompt_tokens),
        }

    async def classify(req: ClassifyRequest, request: Request):
        result = await runtime.classify.classify(
            req.inputs(), use_activation=req.use_activation, truncate_prompt_tokens=req.truncate_prompt_tokens,
            add_special_tokens=req.add_special_tokens,
        )
        data = [
            {"index": c.index, "label": c.label, "probs": c.probs, "num_classes": c.num_classes} for c in result.data
        ]
        return answered(request, listed("classify", req, data, result.prompt_tokens),
                        items=len(data), tokens=result.prompt_tokens)

    async def classify_any(request: Request):
        """vLLM's body (``input`` / ``messages``), SGLang's (``text`` / ``input_ids``) or Infinity's
        (``input`` with ``raw_scores``): the fields decide."""
        body = await json_object(request)
        if SglangEncodeRequest.matches(body):
            return await sglang_classify(SglangEncodeRequest.model_validate(body), request)
        return await classify_vllm_or_infinity(body, request)

    async def classify_v1(request: Request):
        """vLLM's body, or Infinity's."""
        return await classify_vllm_or_infinity(await json_object(request), request)

    async def classify_vllm_or_infinity(body: dict, request: Request):
        if InfinityClassifyRequest.matches(body):
            return await infinity["classify"](InfinityClassifyRequest.model_validate(body), request)
        return await classify(ClassifyRequest.model_validate(body), request)

    async def vllm_score(req: VllmScoreRequest, request: Request):
        queries, documents = req.sides()
        result = await runtime.scores.score_pairs(
            queries, documents, use_activation=req.use_activation, truncate_prompt_tokens=req.truncate_prompt_tokens,
            instruction=req.instruction, chat_template_kwargs=req.chat_template_kwargs,
            label_token_ids=req.label_token_ids, apply_softmax=req.apply_softmax,
        )
        data = [{"index": i, "object": "score", "score": s} for i, s in enumerate(result.scores)]
        return answered(request, listed("score", req, data, result.prompt_tokens),
                        items=len(data), tokens=result.prompt_tokens)

    async def generative_scores(req: GenerativeScoreRequest, request: Request):
        """vLLM's generative scores: SGLang's /v1/score (one MIS pass on an MIS server) in vLLM's envelope."""
        req.check_sampling()
        if runtime.model_config.kind is not ModelKind.CAUSAL_LM:
            raise ValueError("generative scores read a CausalLM's next-token probabilities; this model "
                             f"({runtime.model_config.architecture}) has its own head: use /score or /v1/score")
        query, items = req.query, req.items
        if not req.add_special_tokens:  # a text query gets no BOS either (items never get one: DESIGN.md §3)
            tm = runtime.tokenizer_manager
            if isinstance(query, str):
                query = tm.tokenizer(query, add_special_tokens=False)["input_ids"]
            if items and isinstance(items[0], str):  # one batched call, on the tokenizer thread when they are many
                texts = items
                items = await tm.tokenize_with(texts, lambda tok: tok(texts, add_special_tokens=False)["input_ids"])
        result = await runtime.scores.score(query, items, label_token_ids=req.label_token_ids,
                                            apply_softmax=req.apply_softmax, item_first=req.item_first,
                                            priority=req.priority)
        results = [{"index": i, "token_probs": {str(t): p for t, p in zip(req.label_token_ids, row)}}
                   for i, row in enumerate(result.scores)]
        body = {"id": response_id("generative-score"), "object": "generative_score", "created": now(),
                "model": model_of(req), "results": results, "usage": usage(result.prompt_tokens)}
        return answered(request, body, items=len(results), tokens=result.prompt_tokens)

    async def rerank(req: RerankRequest, request: Request, cohere_v2: bool = False):
        out = await runtime.scores.rerank(
            req.query, [text_of(d) for d in req.documents], top_n=req.top_n, max_tokens_per_doc=req.max_tokens_per_doc,
            return_documents=req.return_documents is not False, use_activation=req.use_activation,
            instruction=req.instruction, truncate_prompt_tokens=req.truncate_prompt_tokens,
            chat_template_kwargs=req.chat_template_kwargs,
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
        return answered(request, body, items=len(req.documents), tokens=out.prompt_tokens)

    async def rerank_v1(request: Request):
        """Jina's / vLLM's body, or Infinity's (``documents`` with ``raw_scores``)."""
        return await rerank_or_infinity(await json_object(request), request)

    async def rerank_or_infinity(body: dict, request: Request):
        if InfinityRerankRequest.matches(body):
            return await infinity["rerank"](InfinityRerankRequest.model_validate(body), request)
        return await rerank(RerankRequest.model_validate(body), request)

    async def rerank_any(request: Request):
        """Jina's / vLLM's body (``documents``), TEI's (``texts``) or Infinity's: the body's fields decide."""
        body = await json_object(request)
        if "texts" in body and "documents" not in body:
            return await tei_rerank(TeiRerankRequest.model_validate(body), request)
        return await rerank_or_infinity(body, request)

    async def rerank_v2(req: RerankRequest, request: Request):
        return await rerank(req, request, cohere_v2=True)

    def vectors_answer(kind: str, item_object: str, field: str, req, vectors: list, prompt_tokens: int, request):
        """An embeddings / pooling answer in the request's encoding: JSON (float, base64) or vLLM's bytes."""
        if is_binary(req.encoding_format):
            request.state.usage = Usage(len(vectors), prompt_tokens)
            envelope = {"id": response_id(kind), "created": now(), "model": model_of(req), "usage": usage(prompt_tokens)}
            return binary_response(vectors, encoding_format=req.encoding_format, embed_dtype=req.embed_dtype,
                                   endianness=req.endianness, envelope=envelope)
        data = [
            {"object": item_object, "index": i, field: encode_vector(v, req.encoding_format, req.embed_dtype, req.endianness)}
            for i, v in enumerate(vectors)
        ]
        return answered(request, listed(kind, req, data, prompt_tokens), items=len(data), tokens=prompt_tokens)

    async def embeddings(req: EmbeddingRequest, request: Request):
        cut = req.truncate_prompt_tokens
        if cut is None and req.truncate:  # Jina's: cut at the context length
            cut = -1
        options = dict(dimensions=req.dimensions, use_activation=req.use_activation, normalize=req.normalized,
                       truncate_prompt_tokens=cut, add_special_tokens=req.add_special_tokens, task=req.task)
        if req.late_chunking:
            result = await late_chunk_embeddings(runtime.embed, req.inputs(), **options)
        else:
            result = await runtime.embed.embed(req.inputs(), **options)
        if req.embedding_type is None:
            return vectors_answer("embd", "embedding", "embedding", req, result.embeddings, result.prompt_tokens, request)
        typed = typed_embeddings(result.embeddings, [req.embedding_type])[req.embedding_type]  # Jina's
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(typed)]
        return answered(request, listed("embd", req, data, result.prompt_tokens), items=len(data),
                        tokens=result.prompt_tokens)

    async def embeddings_any(request: Request):
        """OpenAI's body, or Infinity's (with ``modality``)."""
        body = await json_object(request)
        if InfinityEmbeddingRequest.matches(body):
            return await infinity["embeddings"](InfinityEmbeddingRequest.model_validate(body), request)
        return await embeddings(EmbeddingRequest.model_validate(body), request)

    async def pooling(req: PoolingRequest, request: Request):
        """The model's pooled output (``task`` picks it): embeddings, class probabilities, or per token."""
        result = await runtime.embed.pool(
            req.inputs(), task=req.task, dimensions=req.dimensions, use_activation=req.use_activation,
            truncate_prompt_tokens=req.truncate_prompt_tokens, add_special_tokens=req.add_special_tokens,
            input_type=req.input_type,
        )
        return vectors_answer("pool", "pooling", "data", req, result.data, result.prompt_tokens, request)

    app.post("/v1/embeddings")(embeddings_any)
    app.post("/pooling")(pooling)
    app.api_route("/classify", methods=["POST", "PUT"])(classify_any)  # SGLang's takes PUT too
    app.post("/v1/classify")(classify_v1)
    app.post("/v1/generative-scores")(generative_scores)
    app.post("/rerank")(rerank_any)
    app.post("/v1/rerank")(rerank_v1)
    app.post("/v2/rerank")(rerank_v2)
    return {"vllm_score": vllm_score, "classify": classify, "embeddings": embeddings, "pooling": pooling,
            "rerank": rerank_any}
