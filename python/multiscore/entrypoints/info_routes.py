"""The routes that serve operators rather than scores: health (SGLang's, vLLM's and SageMaker's
probes), model and server info (SGLang's current names and the ``get_`` ones it deprecates),
version, metrics, and SGLang's cache and garbage-collector controls."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Annotated

from fastapi import FastAPI, Path
from fastapi.responses import Response

from multiscore.configs.model_kind import ModelKind, Task
from multiscore.entrypoints.metrics import ServerMetrics
from multiscore.entrypoints.protocol import error_body
from multiscore.entrypoints.responses import check_model, json_response
from multiscore.entrypoints.runtime import Runtime
from multiscore.gc_heap import gc_freeze_state
from multiscore.messages import PoolingParams

logger = logging.getLogger(__name__)

_HEALTH_GENERATE_TIMEOUT_S = 20.0  # SGLang's wait for its /health_generate request


def add_info_routes(app: FastAPI, runtime: Runtime, metrics: ServerMetrics, created: int) -> None:
    tm = runtime.tokenizer_manager
    args, model_config = runtime.server_args, runtime.model_config

    async def health():
        """Every live model replica's loop answers (SGLang's and vLLM's /health; SageMaker's /ping).
        The body is Infinity's (``{"unix": time}``), whose client reads it; the others read the status."""
        await tm.health_check()
        return json_response({"unix": time.time()})

    app.get("/health")(health)
    app.api_route("/ping", methods=["GET", "POST"])(health)

    @app.get("/health_generate")
    async def health_generate():
        """SGLang's deeper probe: one token through a real forward pass; 503 when it does not come back."""
        pooling = PoolingParams(label_token_ids=[0] if model_config.kind is ModelKind.CAUSAL_LM else None)
        try:
            await asyncio.wait_for(tm.run_request(tm.build_request([], [[0]], pooling)), _HEALTH_GENERATE_TIMEOUT_S)
        except Exception as e:  # any failure is "unhealthy", which is all this route says
            logger.warning("/health_generate failed: %s", e)
            return json_response(error_body(f"the model did not run a pass: {e}", 503, "ServiceUnavailableError"), 503)
        return Response(status_code=200)

    @app.get("/version")
    async def version():
        from multiscore import __version__

        return json_response({"version": __version__})

    def card(name: str, root: str, **extra) -> dict:
        return {"id": name, "object": "model", "created": created, "owned_by": "multiscore", "root": root,
                "max_model_len": model_config.context_length, **extra}

    def cards() -> dict:
        """The served names, and each LoRA adapter with its base model as parent (vLLM's listing)."""
        tm = runtime.tokenizer_manager
        out = {name: card(name, model_config.path) for name in args.model_names if name not in tm.unloaded_adapters}
        out.update({name: card(name, path, parent=args.model_name) for name, path in tm.lora_adapters
                    if name not in tm.unloaded_adapters})
        return out

    @app.get("/v1/models")
    async def models():
        return json_response({"object": "list", "data": list(cards().values())})

    @app.get("/v1/models/{model:path}")
    async def model_card(model: Annotated[str, Path(pattern=r"^[^\r\n]*$")]):  # a path segment holds no line break
        """OpenAI's retrieve (``client.models.retrieve``): the served model's card, 404 for another."""
        listed = cards()
        check_model(model, tuple(listed))
        return json_response(listed[model])

    async def model_info():
        kind, hf_config, ready = model_config.kind, model_config.hf_config, runtime.scheduler.ready
        classifies = Task.CLASSIFY in model_config.tasks or kind.classifies_tokens
        return json_response({
            # SGLang's fields (a scoring server generates nothing and reads neither images nor audio)
            "model_path": args.model_path,
            "tokenizer_path": model_config.tokenizer_path,
            "is_generation": False,
            "preferred_sampling_params": None,
            "weight_version": "default",
            "has_image_understanding": False,
            "has_audio_understanding": False,
            "model_type": getattr(hf_config, "model_type", None),
            "architectures": list(getattr(hf_config, "architectures", None) or [model_config.architecture]),
            # multiscore's
            "architecture": model_config.architecture,
            "kind": kind.value,
            "tasks": sorted(task.value for task in model_config.tasks),
            "is_causal_lm": kind is ModelKind.CAUSAL_LM,
            "num_labels": model_config.num_labels if classifies else None,
            # each class score's label, in column order (a token classifier's NER / PII tags)
            "labels": [model_config.label_name(i) or f"LABEL_{i}" for i in range(model_config.num_labels)] if classifies else None,
            "is_embedding": kind.embeds,
            "is_encoder": kind.bidirectional,
            "pooling": dataclasses.asdict(model_config.pooling) if model_config.pooling else None,
            "vocab_size": model_config.vocab_size,
            "context_length": model_config.context_length,
            "multi_item_scoring_delimiter": args.multi_item_scoring_delimiter,
            "device": ready.device,
            "dtype": ready.dtype,
            "attention_backend": ready.attention_backend,
        })

    async def server_info():
        stats, ready = await tm.get_stats(), runtime.scheduler.ready
        passes = max(1, stats.forward_passes)
        return json_response({
            "server_args": {k: v for k, v in dataclasses.asdict(args).items() if k != "api_key"},
            "scheduler_pid": runtime.scheduler.pid,
            "dtype": ready.dtype,
            "dtype_reason": ready.dtype_reason,
            "compiled": ready.compiled,
            "compile_reason": ready.compile_reason,
            "compile_seconds": ready.compile_seconds,
            "linear_kernel": ready.linear_kernel,
            "cpu_memory": ready.cpu_memory,
            "gc_freeze": gc_freeze_state(args.disable_gc_freeze, ready.gc_frozen),
            "event_loop": f"{type(asyncio.get_running_loop()).__module__}.{type(asyncio.get_running_loop()).__name__}",
            "prefix_cache": ready.prefix_cache,
            "prefix_cache_hit_rate": stats.prefix_cache_hit_tokens / max(1, stats.prefix_cache_query_tokens),
            "scheduler": dataclasses.asdict(stats),
            "tokens_per_forward_pass": stats.forward_tokens / passes,
            "sequences_per_forward_pass": stats.forward_sequences / passes,
        })

    # SGLang serves both names: /model_info and /server_info now, the get_ ones for older clients.
    for path in ("/model_info", "/get_model_info"):
        app.get(path)(model_info)
    for path in ("/server_info", "/get_server_info"):
        app.get(path)(server_info)

    @app.api_route("/flush_cache", methods=["GET", "POST"])
    async def flush_cache():
        """SGLang's route: 200 once the scheduler has emptied its caches."""
        if not await tm.flush_cache():
            return json_response(error_body("the cache could not be flushed", 500, "InternalServerError"), 500)
        return Response("Cache flushed.\n", media_type="text/plain")

    @app.api_route("/freeze_gc", methods=["GET", "POST"])
    async def freeze_gc():
        """SGLang's route, for after a warm-up: the objects alive now leave the collector's walks."""
        await tm.freeze_gc()
        return Response("Garbage collection frozen.\n", media_type="text/plain")

    @app.get("/metrics")
    async def prometheus_metrics():
        stats = await tm.get_stats()
        return Response(metrics.render(stats), media_type="text/plain; version=0.0.4; charset=utf-8")
