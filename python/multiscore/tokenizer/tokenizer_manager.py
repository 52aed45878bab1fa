"""TokenizerManager: tokenizes and validates model work, sends it to the scheduler, awaits answers.

Lives in the caller's process (the HTTP server's, or Engine's background event loop). It talks
to the model replicas (scheduler processes) through ReplicaRouter, which routes each request and
matches answers to callers by request id. What each API means (which inputs, which pooling) is
decided above it, in entrypoints/serving/.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import itertools
import logging
import uuid
from typing import Callable, Optional, TypeVar

from multiscore.configs.model_config import ModelConfig
from multiscore.gc_heap import freeze_gc_heap
from multiscore.messages import (
    EmbedOverrides,
    FlushCacheRequest,
    FreezeGCRequest,
    GetStatsRequest,
    HealthCheckRequest,
    LoadLoraAdapterRequest,
    PoolingParams,
    RequestOutput,
    SchedulerStats,
    TokenizedScoreRequest,
)
from multiscore.server_args import ServerArgs
from multiscore.tokenizer.chat import ChatInput, render_chat
from multiscore.tokenizer.inputs import (
    all_token_lists,
    check_items_token_ids,
    check_lengths,
    check_token_ids,
    is_token_list,
    resolve_truncation,
    text_or_token_ids,
)

from multiscore.tokenizer.replica_router import ReplicaRouter, SchedulerUnavailable
from multiscore.tokenizer.replicas import ReplicaSet
from multiscore.tokenizer.tokenizer_thread import TokenizerThread, many_texts
from multiscore.tokenizer.truncation import cut_ids, cut_texts_ids

logger = logging.getLogger(__name__)


T = TypeVar("T")

# The LoRA adapter (--lora-modules index) the current request names, set where its body is read
# (entrypoints/request_gate.py): every request it builds runs with that adapter.
REQUEST_ADAPTER: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("request_adapter", default=None)


class Overloaded(RuntimeError):
    """--max-queued-requests requests are in flight already: the caller should retry later."""


class RequestTimedOut(RuntimeError):
    """The request was not answered within --request-timeout-s; its work was dropped."""


class TokenizerManager:
    def __init__(self, server_args: ServerArgs, model_config: ModelConfig, *, replicas: ReplicaSet) -> None:
        self.server_args = server_args
        self.model_config = model_config
        # LoRA adapters by index (PoolingParams.adapter), those loaded at runtime appended; an unloaded one
        # keeps its place (queued work may still name it) but no request can name it again.
        self.lora_adapters: list[tuple[str, str]] = list(model_config.lora_adapters)
        self.adapter_keys: dict[str, int] = {key: i for i, (name, path) in enumerate(self.lora_adapters)
                                             for key in (path, name)}  # what a request may name
        self.unloaded_adapters: set[str] = set()
        self._lora_lock = asyncio.Lock()  # one adapter load at a time: each takes the next index
        self.tokenizer = model_config.load_tokenizer(server_args.trust_remote_code)
        self.router = ReplicaRouter(replicas, server_args.max_prefill_tokens)
        if server_args.multi_item_scoring_delimiter is not None:
            check_token_ids([server_args.multi_item_scoring_delimiter], model_config.vocab_size, "--multi-item-scoring-delimiter")
        self._requests_in_flight = 0  # model requests sent and not yet answered (--max-queued-requests)
        self._thread = TokenizerThread(lambda: model_config.load_tokenizer(server_args.trust_remote_code))
        self._ids = itertools.count()

    # ---- tokenization and validation ----------------------------------------------------------

    async def tokenize_query_items(self, query, items, *, item_first: bool = False) -> tuple[list[int], list[list[int]]]:
        """SGLang's inputs (text, or token ids) -> (query_ids, items_ids), ready for the scheduler to
        form ``query + item`` (or ``item + query`` with ``item_first``).

        Text: the query with the tokenizer's special tokens, each item without, so that MIS and
        single-item mode see identical ids (DESIGN.md §3). With ``item_first``, the special tokens
        the tokenizer puts before the query (a BOS) lead the whole sequence, as in SGLang and
        transformers: they move from the query to the front of every item (``BOS item query``).
        Token ids are taken as given (the lists themselves: they are not changed here, and copying
        a large request's items only fed the garbage collector). Many texts are tokenized on the
        tokenizer thread (tokenizer_thread.py)."""
        kind, items = text_or_token_ids(query, items)
        if kind == "tokens":
            return list(query), items
        return await self.tokenize_with(items, lambda tok: _query_items_ids(tok, query, items, item_first))

    async def tokenize_with(self, texts, work: Callable[[object], T]) -> T:
        """``work(tokenizer)``: on the tokenizer thread, with its own tokenizer, when ``texts`` are
        many (tokenizer_thread.py); here otherwise."""
        return await self._thread.run(work) if many_texts(texts) else work(self.tokenizer)

    async def tokenize_inputs(
        self, inputs, *, add_special_tokens: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
        keep_start: bool = False, what: str,
    ) -> list[list[int]]:
        """vLLM's input forms (a text, texts, token ids, lists of them, or chat messages) -> token ids
        per input, cut to their last k tokens when ``truncate_prompt_tokens`` asks (as vLLM does;
        ``keep_start``: their first k, TEI's right truncation); a text keeps the special tokens its
        tokenizer adds (truncation.py). ``add_special_tokens`` None: true for texts, false for chat
        (its template adds them). Many texts are tokenized, and cut, on the tokenizer thread."""
        keep = resolve_truncation(truncate_prompt_tokens, self.model_config.context_length)
        if isinstance(inputs, ChatInput):
            text = render_chat(self.tokenizer, inputs)
            ids = cut_ids([self.tokenizer(text, add_special_tokens=bool(add_special_tokens))["input_ids"]], keep, keep_start)
        else:
            def tokenize(tok):
                return _tokenize_texts_or_ids(inputs, add_special_tokens is not False, tok, keep, keep_start)

            ids = await self.tokenize_with(inputs, tokenize)
        for i, x in enumerate(ids):
            if not x:
                raise ValueError(f"input {i} is empty: there is no token to {what}")
        return ids

    def tokenize_prompt(self, prompt, *, add_special_tokens: Optional[bool] = None) -> list[int]:
        """vLLM's /tokenize: a text (special tokens unless false) or a ChatInput (none unless true)."""
        if isinstance(prompt, ChatInput):
            return self.tokenizer(render_chat(self.tokenizer, prompt), add_special_tokens=bool(add_special_tokens))["input_ids"]
        return self.tokenizer(prompt, add_special_tokens=add_special_tokens is not False)["input_ids"]

    def detokenize(self, ids: list[int]) -> str:
        check_token_ids(ids, len(self.tokenizer), "'tokens'")
        return self.tokenizer.decode(ids)

    def build_request(
        self, query_ids: list[int], items_ids: list[list[int]], pooling: PoolingParams, *, mis: bool = False,
        item_first: bool = False, items_token_type_ids: Optional[list[list[int]]] = None,
        embed_overrides: Optional[EmbedOverrides] = None, priority: int = 0,
        items_key_lens: Optional[list[Optional[int]]] = None,
    ) -> TokenizedScoreRequest:
        """Check ids, limits and lengths; ``mis``: the items may share packed sequences (DESIGN.md §4)."""
        cfg, args = self.model_config, self.server_args
        if mis and args.multi_item_scoring_delimiter is None:
            raise ValueError("multi-item scoring needs --multi-item-scoring-delimiter")
        if len(items_ids) > args.max_items_per_request:
            raise ValueError(f"the request has {len(items_ids)} items, more than --max-items-per-request={args.max_items_per_request}")
        vocab_size = cfg.vocab_size
        item_lens = list(map(len, items_ids))
        check_token_ids(query_ids, vocab_size, "'query'")
        check_items_token_ids(items_ids, vocab_size, sum(item_lens))
        total = len(query_ids) + sum(item_lens)
        if total > args.max_tokens_per_request:
            raise ValueError(f"the request has {total} tokens, more than --max-tokens-per-request={args.max_tokens_per_request}")
        check_lengths(len(query_ids), item_lens, cfg.context_length, mis and len(items_ids) > 1)
        adapter = REQUEST_ADAPTER.get()
        if adapter is not None and pooling.adapter is None:
            pooling = dataclasses.replace(pooling, adapter=adapter)
        return TokenizedScoreRequest(
            rid=self._new_rid("score"), query_ids=query_ids, items_ids=items_ids, pooling=pooling, mis=mis,
            item_first=item_first, items_token_type_ids=items_token_type_ids, embed_overrides=embed_overrides,
            priority=priority, items_key_lens=items_key_lens,
        )

    # ---- talking to the scheduler -------------------------------------------------------------

    @property
    def requests_in_flight(self) -> int:
        """Model requests sent and not yet answered."""
        return self._requests_in_flight

    async def run_request(self, req: TokenizedScoreRequest) -> RequestOutput:
        """Send a request, bounded by the queue limit and the request timeout; a caller that gives
        up (timeout, cancelled by a client disconnect) has its work dropped by the scheduler."""
        args = self.server_args
        if self._requests_in_flight >= args.max_queued_requests:
            raise Overloaded(f"the server is at --max-queued-requests={args.max_queued_requests}; retry shortly")
        self._requests_in_flight += 1
        try:
            return await asyncio.wait_for(self.router.request(req), args.request_timeout_s)
        except asyncio.TimeoutError:
            raise RequestTimedOut(f"the request was not answered within --request-timeout-s={args.request_timeout_s:g} s") from None
        finally:
            self._requests_in_flight -= 1

    async def health_check(self, timeout_s: float = 5.0) -> None:
        """Every live replica answers (one being restarted does not count against it)."""
        await self._ask_all(lambda i: HealthCheckRequest(rid=self._new_rid(f"health{i}")), timeout_s)

    async def get_stats(self, timeout_s: float = 5.0) -> SchedulerStats:
        """The replicas' counters summed, and each replica's state in ``replicas``."""
        answers = await self._ask_all(lambda i: GetStatsRequest(rid=self._new_rid(f"stats{i}")), timeout_s)
        stats = sum_stats([a.stats for a in answers], self.router.states())
        stats.resent_requests, stats.replica_restarts = self.router.resent, self.router.replicas.restarts
        return stats

    async def flush_cache(self, timeout_s: float = 30.0) -> bool:
        answers = await self._ask_all(lambda i: FlushCacheRequest(rid=self._new_rid(f"flush{i}")), timeout_s)
        return all(a.success for a in answers)

    async def freeze_gc(self, timeout_s: float = 30.0) -> list[int]:
        """SGLang's freeze_gc: every replica, then this process, freeze the objects alive now
        (gc_heap.py); -> the objects frozen in each replica."""
        answers = await self._ask_all(lambda i: FreezeGCRequest(rid=self._new_rid(f"freeze{i}")), timeout_s)
        freeze_gc_heap("tokenizer manager's process")
        return [a.frozen for a in answers]

    async def load_lora_adapter(self, name: str, path: str, timeout_s: float = 300.0) -> None:
        """vLLM's /v1/load_lora_adapter, SGLang's /load_lora_adapter: every replica stacks it beside the
        others (a replica restarted later loads it too); ValueError with the reason otherwise."""
        from multiscore.configs.model_config import resolve_model_path
        from multiscore.model_executor.lora_adapters import read_adapter_config

        async with self._lora_lock:
            if name in self.adapter_keys or name in self.server_args.model_names:
                raise ValueError(f"The lora adapter '{name}' has already been loaded.")
            path = resolve_model_path(path)
            read_adapter_config(name, path)
            index = len(self.lora_adapters)
            answers = await self._ask_all(lambda i: LoadLoraAdapterRequest(
                rid=self._new_rid(f"lora{i}"), name=name, path=path, index=index), timeout_s)
            errors = [a.error for a in answers if a.error]
            if errors:
                raise ValueError(f"LoRA adapter {name!r} was not loaded: {errors[0]}")
            self.lora_adapters.append((name, path))
            self.adapter_keys[path] = self.adapter_keys[name] = index
            self.unloaded_adapters.discard(name)
            replicas = self.router.replicas
            replicas.server_args = replicas.server_args.replace(lora_modules=tuple(self.lora_adapters))

    def unload_lora_adapter(self, name: str) -> None:
        """No request may name the adapter any more (its weights stay in place: queued work may use them)."""
        index = self.adapter_keys.get(name)
        if index is None or self.lora_adapters[index][0] != name:
            raise ValueError(f"The lora adapter '{name}' cannot be found.")
        for key in (name, self.lora_adapters[index][1]):
            if self.adapter_keys.get(key) == index:
                del self.adapter_keys[key]
        self.unloaded_adapters.add(name)

    def scheduler_alive(self) -> bool:
        return bool(self.router.live())

    async def _ask_all(self, make_message, timeout_s: float) -> list:
        try:
            return await asyncio.wait_for(self.router.ask_all(make_message), timeout_s)
        except asyncio.TimeoutError:
            raise SchedulerUnavailable(f"the scheduler did not answer within {timeout_s:.0f} s") from None

    def _new_rid(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}-{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        self.router.close()
        self._thread.close()


def _query_items_ids(tokenizer, query: str, items: list[str], item_first: bool) -> tuple[list[int], list[list[int]]]:
    """Text query and items -> their ids (TokenizerManager.tokenize_query_items), with ``tokenizer``."""
    query_ids = tokenizer(query)["input_ids"]
    items_ids = tokenizer(items, add_special_tokens=False)["input_ids"] if items else []
    if item_first:
        lead = _leading_special_tokens(tokenizer, query, query_ids)
        query_ids, items_ids = query_ids[lead:], [query_ids[:lead] + it for it in items_ids]
    return query_ids, items_ids


def _leading_special_tokens(tokenizer, text: str, ids: list[int]) -> int:
    """How many tokens the tokenizer put before ``text``'s own tokens in ``ids`` (its BOS)."""
    bare = tokenizer(text, add_special_tokens=False)["input_ids"]
    for lead in range(len(ids) - len(bare) + 1):
        if ids[lead : lead + len(bare)] == bare:
            return lead
    return 0  # the tokenizer changed the text's own tokens: leave the sequence as it is


def sum_stats(parts: list[SchedulerStats], replicas: list[dict]) -> SchedulerStats:
    """Counters and histograms summed over the replicas' stats."""
    total = SchedulerStats()
    for f in dataclasses.fields(SchedulerStats):
        values = [getattr(p, f.name) for p in parts]
        if f.name in ("replicas", "resent_requests", "replica_restarts"):  # the main process's, not the replicas'
            continue
        if values and isinstance(values[0], list):
            setattr(total, f.name, [sum(col) for col in zip(*values)])
        else:
            setattr(total, f.name, sum(values))
    for state, part in zip(replicas, parts):
        state.update(forward_passes=part.forward_passes, finished_requests=part.finished_requests,
                     queued_sequences=part.queued_sequences)
    total.replicas = replicas
    return total


def _tokenize_texts_or_ids(inputs, add_special_tokens: bool, tokenizer, keep: Optional[int],
                           keep_start: bool) -> list[list[int]]:
    """Texts or token ids -> ids per input, cut to ``keep`` tokens (truncation.py: a text keeps the
    special tokens its tokenizer added)."""
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs:
        raise ValueError("'input' must be a non-empty string, list of strings, or token ids")
    if all(isinstance(x, str) for x in inputs):
        ids = tokenizer(inputs, add_special_tokens=add_special_tokens)["input_ids"]
        if keep is not None and add_special_tokens:
            return cut_texts_ids(tokenizer, inputs, ids, keep, keep_start)
        return cut_ids(ids, keep, keep_start)
    if is_token_list(inputs):
        return cut_ids([list(inputs)], keep, keep_start)
    if all_token_lists(inputs):
        return cut_ids(inputs, keep, keep_start)
    raise ValueError("'input' must be a string, a list of strings, a list of token ids or a list of such lists")


__all__ = ["Overloaded", "RequestTimedOut", "SchedulerUnavailable", "TokenizerManager"]
