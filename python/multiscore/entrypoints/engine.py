"""Engine: the scoring runtime without HTTP, for Python callers.

The same TokenizerManager as the server, running on a private event loop in a background
thread, and the same scheduler process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import TYPE_CHECKING, Optional

from multiscore.entrypoints import sglang_args
from multiscore.entrypoints.early_start import start_runtime
from multiscore.gc_heap import gc_freeze_state
from multiscore.server_args import ServerArgs

# Light imports only: the runtime (torch, transformers, the HTTP models) is imported by Engine() while
# the model process loads (early_start.py), not by ``from multiscore import Engine`` before it starts.
if TYPE_CHECKING:
    from multiscore.entrypoints.runtime import Runtime
    from multiscore.entrypoints.serving.results import Classification, RerankResult, ScoreResult
    from multiscore.tokenizer.tokenizer_manager import TokenizerManager


class Engine:
    """``Engine(model_path=..., multi_item_scoring_delimiter=None, device="auto", dtype="auto", ...)``.

    Keyword names equal the CLI flags of ``launch_server``; SGLang's Engine arguments that have no
    effect here are accepted and logged (sglang_args.py). Use as a context manager or call
    ``shutdown()``; no process or socket file is left behind.
    """

    def __init__(self, model_path: Optional[str] = None, **kwargs) -> None:
        self.server_args = ServerArgs(model_path=model_path, **sglang_args.translate_engine_kwargs(kwargs))
        self._runtime: Optional[Runtime] = start_runtime(self.server_args)
        self._loop = asyncio.new_event_loop()
        self._caller_loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="multiscore-engine-loop", daemon=True)
        self._thread.start()

    @property
    def tokenizer_manager(self) -> TokenizerManager:
        return self._live.tokenizer_manager

    @property
    def scheduler_pid(self) -> int:
        """Process id of the scheduler (model) process, for monitoring (the first replica's)."""
        return self._runtime.scheduler.pid

    @property
    def scheduler_pids(self) -> list[int]:
        """Every model replica's process id (``dp_size`` of them)."""
        return self._runtime.scheduler.pids

    def score(
        self, query, items, label_token_ids: Optional[list[int]] = None, apply_softmax: bool = False,
        item_first: bool = False, embed_override_token_id: Optional[int] = None, query_embed_overrides=None,
        item_embed_overrides=None, return_pooled_hidden_states: bool = False, priority: int = 0,
        lora_path: Optional[str] = None,
    ) -> ScoreResult:
        """Score each item against the query; see DESIGN.md §3 for the exact semantics.

        SGLang's embedding overrides: ``item_embed_overrides[i]`` (vectors, or None) replace the
        input embeddings of the ``embed_override_token_id`` placeholders of item i, in order;
        ``query_embed_overrides`` those of the query. ``return_pooled_hidden_states`` (decoder
        classifiers): ``result.pooled_hidden_states`` holds each item's [H] CPU tensor."""
        return self._run(self._score(
            query, items, label_token_ids=label_token_ids, apply_softmax=apply_softmax, item_first=item_first,
            embed_override_token_id=embed_override_token_id, query_embed_overrides=query_embed_overrides,
            item_embed_overrides=item_embed_overrides, return_pooled_hidden_states=return_pooled_hidden_states,
            priority=priority, lora_path=lora_path,
        ))

    async def async_score(
        self, query, items, label_token_ids: Optional[list[int]] = None, apply_softmax: bool = False,
        item_first: bool = False, embed_override_token_id: Optional[int] = None, query_embed_overrides=None,
        item_embed_overrides=None, return_pooled_hidden_states: bool = False, priority: int = 0,
        lora_path: Optional[str] = None,
    ) -> ScoreResult:
        coro = self._score(
            query, items, label_token_ids=label_token_ids, apply_softmax=apply_softmax, item_first=item_first,
            embed_override_token_id=embed_override_token_id, query_embed_overrides=query_embed_overrides,
            item_embed_overrides=item_embed_overrides, return_pooled_hidden_states=return_pooled_hidden_states,
            priority=priority, lora_path=lora_path,
        )
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _score(self, query, items, lora_path: Optional[str] = None, **options) -> ScoreResult:
        if lora_path is not None:  # SGLang's: the LoRA adapter (its name or path) this call runs with
            from multiscore.tokenizer.tokenizer_manager import REQUEST_ADAPTER  # imported already by the runtime

            keys = self._live.tokenizer_manager.adapter_keys
            if lora_path not in keys:
                raise ValueError(f"lora_path {lora_path!r} is not a served adapter; served: {', '.join(sorted(keys)) or 'none'}")
            REQUEST_ADAPTER.set(keys[lora_path])
        result = await self._live.scores.score(query, items, **options)
        if result.pooled_hidden_states is not None:  # SGLang's Engine hands out CPU tensors
            import torch  # imported already by the runtime

            result.pooled_hidden_states = [torch.tensor(h) for h in result.pooled_hidden_states]
        return result

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """An event loop for callers (SGLang's ``engine.loop``): run ``async_score`` coroutines on it
        with ``run_until_complete``. The engine's own work runs on its background thread."""
        if self._caller_loop is None:
            self._caller_loop = asyncio.new_event_loop()
        return self._caller_loop

    def classify(
        self, inputs, use_activation: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
        add_special_tokens: bool = True,
    ) -> list[Classification]:
        """vLLM's classify: one ``Classification`` (label, probs, num_classes) per input text or token list."""
        coro = self._live.classify.classify(
            inputs, use_activation=use_activation, truncate_prompt_tokens=truncate_prompt_tokens,
            add_special_tokens=add_special_tokens,
        )
        return self._run(coro).data

    def embed(
        self, texts, dimensions: Optional[int] = None, truncate_prompt_tokens: Optional[int] = None,
        prompt_name: Optional[str] = None, task: Optional[str] = None,
    ) -> list[list[float]]:
        """One embedding per text (or token-id list), pooled as the checkpoint says (embedding models);
        ``prompt_name``: one of the model's sentence-transformers prompts, put before each text;
        ``task`` (jina-embeddings-v3's ``encode(texts, task=...)``): the task's instruction before each
        text, and its LoRA adapter."""
        coro = self._live.embed.embed(texts, dimensions=dimensions, truncate_prompt_tokens=truncate_prompt_tokens,
                                      prompt_name=prompt_name, task=task)
        return self._run(coro).embeddings

    def encode(self, prompt, dimensions: Optional[int] = None):
        """SGLang's ``Engine.encode`` (embedding models): a text or token ids -> ``{"embedding": [...],
        "meta_info": {...}}``; a list of them -> a list of those."""
        return self._run(self._encode(prompt, dimensions))

    async def async_encode(self, prompt, dimensions: Optional[int] = None):
        """``encode`` for callers on an event loop (SGLang's ``Engine.async_encode``)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._encode(prompt, dimensions), self._loop))

    async def _encode(self, prompt, dimensions: Optional[int]):
        from multiscore.entrypoints.protocol import SglangEncodeRequest  # imported already by the runtime
        from multiscore.entrypoints.serving.results import sglang_outputs

        texts = isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(p, str) for p in prompt))
        req = SglangEncodeRequest(**{"text" if texts else "input_ids": prompt}, dimensions=dimensions)
        inputs, single = req.inputs()
        result = await self._live.embed.embed(inputs, dimensions=dimensions)
        return sglang_outputs(result.embeddings, result.input_tokens, req.rids(len(inputs)), single)

    def rerank(
        self, query: str, documents: list[str], top_n: Optional[int] = None, max_tokens_per_doc: Optional[int] = None,
        return_documents: bool = True, instruction: Optional[str] = None, use_activation: Optional[bool] = None,
    ) -> list[RerankResult]:
        """Documents by relevance to the query, highest first (one MIS pass on an MIS server).
        ``use_activation=False``: a cross-encoder's raw logits (vLLM's), not its configured activation."""
        coro = self._live.scores.rerank(
            query, documents, top_n=top_n, max_tokens_per_doc=max_tokens_per_doc, return_documents=return_documents,
            instruction=instruction, use_activation=use_activation,
        )
        return self._run(coro).results

    def pool(
        self, inputs, task: Optional[str] = None, dimensions: Optional[int] = None,
        use_activation: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
        input_type: Optional[str] = None,
    ) -> list:
        """vLLM's /pooling in process: per input the model's output for ``task`` (embed, classify, score,
        token_embed: a vector per token, token_classify: class scores per token); by default the
        model's own (an embedding, class scores, or a ColBERT model's token vectors). ``input_type``
        ("query" / "document", ColBERT models): the vectors pylate's ``encode`` gives for an index."""
        coro = self._live.embed.pool(inputs, task=task, dimensions=dimensions, use_activation=use_activation,
                                     truncate_prompt_tokens=truncate_prompt_tokens, input_type=input_type)
        return self._run(coro).data

    def get_server_info(self) -> dict:
        """SGLang's ``Engine.get_server_info``: the scheduler's counters (forward passes, prefix-cache
        hits, ...) and what was chosen at start-up (dtype, prefix cache, CPU memory reuse)."""
        ready = self._live.scheduler.ready
        stats = self._run(self._live.tokenizer_manager.get_stats())
        return {"server_args": {k: v for k, v in dataclasses.asdict(self.server_args).items() if k != "api_key"},
                "dtype": ready.dtype, "prefix_cache": ready.prefix_cache, "cpu_memory": ready.cpu_memory,
                "gc_freeze": gc_freeze_state(self.server_args.disable_gc_freeze, ready.gc_frozen),
                "scheduler": dataclasses.asdict(stats)}

    def freeze_gc(self) -> None:
        """SGLang's ``Engine.freeze_gc``: the model processes, and this (the caller's) process, stop
        walking the objects alive now in their garbage collections (gc_heap.py). The model processes
        do it after start-up anyway; the caller's heap is the caller's to freeze, after a warm-up."""
        self._run(self._live.tokenizer_manager.freeze_gc())

    def load_lora_adapter(self, lora_name: str, lora_path: str) -> None:
        """SGLang's ``Engine.load_lora_adapter`` (needs ``enable_lora=True``): every replica loads it beside the others."""
        if not self.server_args.enable_lora:
            raise ValueError("loading LoRA adapters while serving needs enable_lora=True")
        self._run(self._live.tokenizer_manager.load_lora_adapter(lora_name, lora_path))

    def unload_lora_adapter(self, lora_name: str) -> None:
        """SGLang's ``Engine.unload_lora_adapter``: no call may name it any more."""
        self._live.tokenizer_manager.unload_lora_adapter(lora_name)

    def flush_cache(self) -> bool:
        """Empty the scheduler's caches (SGLang's ``Engine.flush_cache``); True on success."""
        return self._run(self._live.tokenizer_manager.flush_cache())

    @property
    def _live(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the engine has been shut down")
        return self._runtime

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def shutdown(self) -> None:
        if self._runtime is None:
            return
        runtime, self._runtime = self._runtime, None
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_close(runtime), self._loop).result(5)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(5)
        runtime.scheduler.shutdown()
        if self._caller_loop is not None and not self._caller_loop.is_running():
            self._caller_loop.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def __del__(self) -> None:
        # At interpreter exit the loop thread may already be frozen: only stop the process.
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            runtime.scheduler.shutdown()


async def _close(runtime: Runtime) -> None:
    runtime.tokenizer_manager.close()  # cancels its tasks inside the loop that owns them
