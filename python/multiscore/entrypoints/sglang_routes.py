"""SGLang's native pooling routes, for its clients: ``POST|PUT /encode`` (embedding models) and the
SGLang body of ``/classify`` (classifiers and reward models), which shares the route with vLLM's
(pooling_routes.py dispatches on the body's fields). Each input answers ``{"embedding": [...],
"meta_info": {"id", "finish_reason", "prompt_tokens"}}``: one object for one input, a list for a list.
A classifier's "embedding" is its raw class scores, as SGLang returns a reward model's."""

from __future__ import annotations

from fastapi import FastAPI, Request

from multiscore.entrypoints.protocol import SglangEncodeRequest
from multiscore.entrypoints.responses import answered
from multiscore.entrypoints.runtime import Runtime
from multiscore.entrypoints.serving.results import sglang_outputs


def add_sglang_routes(app: FastAPI, runtime: Runtime):
    """Adds /encode; returns the SGLang /classify handler, which /classify dispatches to."""

    def answer(req: SglangEncodeRequest, request: Request, vectors: list, input_tokens: list[int], single: bool):
        body = sglang_outputs(vectors, input_tokens, req.rids(len(vectors)), single)
        return answered(request, body, items=len(vectors), tokens=sum(input_tokens))

    async def encode(req: SglangEncodeRequest, request: Request):
        inputs, single = req.inputs()
        result = await runtime.embed.embed(inputs, dimensions=req.dimensions)
        return answer(req, request, result.embeddings, result.input_tokens, single)

    async def classify(req: SglangEncodeRequest, request: Request):
        if req.dimensions is not None:
            raise ValueError("'dimensions' applies to embedding models (/encode); /classify gives class scores")
        inputs, single = req.inputs()
        result = await runtime.classify.classify(inputs, use_activation=False)
        return answer(req, request, [c.probs for c in result.data], result.input_tokens, single)

    app.api_route("/encode", methods=["POST", "PUT"])(encode)
    return classify
