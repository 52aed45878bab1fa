"""The prefix cache around each batch: which leading tokens of each sequence are cached (they get
no row in the batch), which computed rows to keep, and the tree's bookkeeping after the forward.

Only a query's tokens are cached (``ScoreSequence.cache_len``): their keys/values depend on the
tokens alone. Each sequence keeps at least its last query token in the batch, since an empty
item reads its score there. A cache too small for a prefix simply leaves it uncached."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import torch

from multiscore.configs.attention_geometry import kv_layer_shapes
from multiscore.configs.model_kind import ModelKind
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.prefix_cache import KVPool, Node, PrefixKV, RadixTree

logger = logging.getLogger(__name__)

# Attention backends whose forward takes ``prefix_kv`` (SequenceLayout.cached_len / cached_start).
_BACKENDS_READING_CACHED_KEYS = ("torch", "flashinfer")
_DEFAULT_MB_CAP = 2048  # --prefix-cache-size-mb when not given: this, or a tenth of the memory, whichever is less


@dataclass
class CacheStats:
    hits: int = 0  # sequences that found part of their query cached
    misses: int = 0  # sequences that could have, and found none
    hit_tokens: int = 0  # query tokens read from the cache instead of computed
    query_tokens: int = 0  # cacheable query tokens seen


@dataclass
class BatchPlan:
    cached: list[int]  # per sequence: leading tokens read from the cache
    prefix: Optional[PrefixKV]
    locked: list[Node] = field(default_factory=list)
    inserts: list[tuple[list[int], torch.Tensor, int]] = field(default_factory=list)  # (tokens, new slots, start)


def prefix_cache_problem(server_args, model_config, backend_name: str) -> Optional[str]:
    """None when the cache serves this model, else why not (logged and shown in /get_server_info)."""
    if server_args.disable_radix_cache:
        return "--disable-radix-cache"
    if model_config.kind not in (ModelKind.CAUSAL_LM, ModelKind.DECODER_CLASSIFIER):
        return f"a {model_config.kind.value} model has no query computed apart from its items"
    from multiscore.models.registry import get_model_class

    model_problem = getattr(get_model_class(model_config.architecture), "prefix_cache_problem", None)
    if model_problem is not None:
        return f"{model_config.architecture}: {model_problem}"
    if backend_name not in _BACKENDS_READING_CACHED_KEYS:
        return f"the {backend_name} backend does not read cached keys (these do: {', '.join(_BACKENDS_READING_CACHED_KEYS)})"
    return None


def default_cache_mb(device: torch.device) -> int:
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
    else:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min(_DEFAULT_MB_CAP, total // 10 // 2**20)


class PrefixCacheRunner:
    def __init__(self, model_config, size_mb: float, device: torch.device, dtype: torch.dtype) -> None:
        shapes = kv_layer_shapes(model_config.hf_config)
        self.bytes_per_token = KVPool.bytes_per_token(shapes, dtype)
        num_slots = int(size_mb * 2**20) // self.bytes_per_token
        self.tree = RadixTree(KVPool(shapes, num_slots, dtype, device))
        self.device = device
        self.stats = CacheStats()
        logger.info("prefix cache: %g MB, %d tokens", size_mb, num_slots)

    @property
    def cached_tokens(self) -> int:
        return self.tree.cached_tokens

    @property
    def cached_bytes(self) -> int:
        return self.tree.cached_tokens * self.bytes_per_token

    def plan(self, seqs: list[ScoreSequence]) -> BatchPlan:
        plan = BatchPlan(cached=[], prefix=None)
        load, save_rows, save_slots = [], [], []
        row = 0  # first row of the sequence in the batch
        for seq in seqs:
            n = seq.cache_len
            cached = 0
            if n > 1:
                tokens = seq.input_ids[:n]
                match = self.tree.match(tokens)
                self.tree.lock(match.node)
                plan.locked.append(match.node)
                cached = min(match.length, n - 1)
                load.append(match.slots[:cached])
                self._count(cached, n)
                if match.length < n:  # compute the rest of the query now, and keep it
                    slots = self._alloc(n - cached)
                    if slots is not None:
                        save_rows.append(torch.arange(row, row + n - cached))
                        save_slots.append(slots)
                        plan.inserts.append((tokens, slots, cached))
            plan.cached.append(cached)
            row += len(seq) - cached
        if plan.locked:
            cat = lambda parts: torch.cat(parts).to(self.device) if parts else torch.empty(0, dtype=torch.long, device=self.device)  # noqa: E731
            plan.prefix = PrefixKV(self.tree.pool, cat(load), cat(save_rows), cat(save_slots))
        return plan

    def finish(self, plan: BatchPlan, ok: bool) -> None:
        """After the forward: its computed queries join the tree (or, when it failed, their slots go
        back to the pool), and what it read is unlocked."""
        for tokens, slots, start in plan.inserts:
            if ok:
                self.tree.insert(tokens, slots, start)
            else:
                self.tree.pool.free(slots)
        for node in plan.locked:
            self.tree.unlock(node)

    def flush(self) -> None:
        self.tree.flush()

    def _alloc(self, n: int) -> Optional[torch.Tensor]:
        missing = n - self.tree.pool.num_free
        if missing > 0:
            self.tree.evict(missing)
        return self.tree.pool.alloc(n)

    def _count(self, cached: int, n: int) -> None:
        self.stats.query_tokens += n
        self.stats.hit_tokens += cached
        if cached:
            self.stats.hits += 1
        else:
            self.stats.misses += 1
