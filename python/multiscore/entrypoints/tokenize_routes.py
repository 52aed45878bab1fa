"""vLLM's POST /tokenize and /detokenize: the served tokenizer, as the model sees it. /tokenize
also takes TEI's body (``inputs``), which tei_routes.py answers."""

from __future__ import annotations

from fastapi import FastAPI, Request

from multiscore.entrypoints.protocol import DetokenizeRequest, TeiTokenizeRequest, TokenizeRequest
from multiscore.entrypoints.responses import check_model, json_object, json_response
from multiscore.entrypoints.runtime import Runtime
from multiscore.tokenizer.chat import ChatInput


def add_tokenize_routes(app: FastAPI, runtime: Runtime, tei_tokenize) -> None:
    tm = runtime.tokenizer_manager

    @app.post("/tokenize")
    async def tokenize_any(request: Request):
        """vLLM's body (``prompt`` / ``messages``) or TEI's (``inputs``): the fields decide."""
        body = await json_object(request)
        if "inputs" in body and "prompt" not in body and "messages" not in body:
            return await tei_tokenize(TeiTokenizeRequest.model_validate(body), request)
        return await tokenize(TokenizeRequest.model_validate(body))

    async def tokenize(req: TokenizeRequest):
        check_model(req.model, runtime.server_args.model_names)
        if (req.prompt is None) == (req.messages is None):
            raise ValueError("give either 'prompt' or 'messages'")
        prompt = req.prompt
        if req.messages is not None:
            prompt = ChatInput(
                req.messages, add_generation_prompt=req.add_generation_prompt,
                continue_final_message=req.continue_final_message, chat_template=req.chat_template,
                chat_template_kwargs=req.chat_template_kwargs or {},
            )
        ids = tm.tokenize_prompt(prompt, add_special_tokens=req.add_special_tokens)
        return json_response({
            "count": len(ids), "max_model_len": runtime.model_config.context_length, "tokens": ids,
            "token_strs": tm.tokenizer.convert_ids_to_tokens(ids) if req.return_token_strs else None,
        })

    @app.post("/detokenize")
    async def detokenize(req: DetokenizeRequest):
        check_model(req.model, runtime.server_args.model_names)
        return json_response({"prompt": tm.detokenize(req.tokens)})
