"""Loading LoRA adapters while serving: vLLM's ``POST /v1/load_lora_adapter`` / ``/v1/unload_lora_adapter``
(plain-text answers) and SGLang's ``POST /load_lora_adapter`` / ``/unload_lora_adapter`` (``success``,
``error_message``, ``loaded_adapters``; a failure carries the error envelope too). Allowed with ``--enable-lora`` (vLLM also asks for
VLLM_ALLOW_RUNTIME_LORA_UPDATING; the flag is the consent here). An unloaded adapter's name picks
nothing any more (404 as a model name); its weights stay loaded, since queued work may still use them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from multiscore.entrypoints.protocol import error_body
from multiscore.entrypoints.responses import json_object, json_response
from multiscore.entrypoints.runtime import Runtime


def add_lora_routes(app: FastAPI, runtime: Runtime) -> None:
    tm = runtime.tokenizer_manager

    async def _fields(request: Request, *names: str) -> list:
        if not runtime.server_args.enable_lora:
            raise ValueError("loading or unloading LoRA adapters while serving needs --enable-lora (the adapters in "
                             "--lora-modules load at start-up)")
        body = await json_object(request)
        values = [body.get(name) for name in names]
        for name, value in zip(names, values):
            if not isinstance(value, str) or not value:
                raise ValueError(f"'{name}' must be a non-empty string")
        return values

    def loaded() -> dict:
        return {name: path for name, path in tm.lora_adapters if name not in tm.unloaded_adapters}

    @app.post("/v1/load_lora_adapter")
    async def vllm_load(request: Request):
        name, path = await _fields(request, "lora_name", "lora_path")
        await tm.load_lora_adapter(name, path)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def vllm_unload(request: Request):
        (name,) = await _fields(request, "lora_name")
        tm.unload_lora_adapter(name)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    async def sglang(request: Request, load: bool):
        try:
            if load:
                await tm.load_lora_adapter(*await _fields(request, "lora_name", "lora_path"))
            else:
                tm.unload_lora_adapter(*await _fields(request, "lora_name"))
        except ValueError as e:  # SGLang's fields beside every client's error envelope
            return json_response({**error_body(str(e), 400, "BadRequestError"), "success": False,
                                  "error_message": str(e), "loaded_adapters": loaded()}, 400)
        return json_response({"success": True, "error_message": None, "loaded_adapters": loaded()})

    @app.post("/load_lora_adapter")
    async def sglang_load(request: Request):
        return await sglang(request, True)

    @app.post("/unload_lora_adapter")
    async def sglang_unload(request: Request):
        return await sglang(request, False)
