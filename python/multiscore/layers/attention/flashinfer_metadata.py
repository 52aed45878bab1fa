"""What FlashInfer's prefill plans need for a packed batch, built with plain tensor code.

Kept apart from the backend so it runs (and is tested) without CUDA or flashinfer installed.

FlashInfer's multi-item-scoring mask (its ``prefix_len_ptr`` / ``token_pos_in_items_ptr`` plan
arguments) lets a token after the prefix with in-item position ``p > 0`` see the whole prefix and
the ``p`` tokens ending at itself, and a token with ``p == 0`` (a delimiter) see only the prefix:
exactly DESIGN.md §4 with prefix = query. For ``query D item_1 D ... item_N D``:

- ``prefix_len[b]`` = query length; a plain (single-item) sequence has ``prefix_len = length``,
  which makes every token "prefix", i.e. plain causal attention — so both kinds share one plan;
- ``token_pos_in_items[b]`` = one entry per token after the query:
  ``[0, 1..len_1, 0, 1..len_2, ..., 0, 1..len_N, 0]`` (0 at each delimiter), zero-padded to
  ``token_pos_in_items_len`` = the longest such run in the batch, and concatenated;
- ``max_item_len[b]`` = the longest item of the sequence (0 for a plain sequence).

A sequence with ``cached_len = P`` leading tokens in the prefix cache has only its other tokens as
rows, but P + length keys. FlashInfer aligns a sequence's rows to the end of its keys (row t is
key ``t + kv_len - qo_len``, in the causal and the multi-item mask alike, prefill.cuh), and its
``prefix_len`` and ``token_pos_in_items`` count keys, not rows. So a cached prefix only adds P to
``prefix_len``; ``token_pos_in_items`` still starts at the first delimiter. SGLang plans MIS after
its radix cache the same way (``prefix_len = first_delim + extend_prefix_len``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from multiscore.layers.attention.base import SequenceLayout

_UINT16_MAX = 65535


@dataclass
class FlashInferPlanInputs:
    indptr: torch.Tensor  # [B + 1] int32: row offsets of the sequences (queries and keys alike)
    prefix_len: Optional[torch.Tensor]  # [B] uint32; None when the batch has no MIS sequence
    token_pos_in_items: Optional[torch.Tensor]  # [B * token_pos_in_items_len] uint16
    token_pos_in_items_len: int
    max_item_len: Optional[torch.Tensor]  # [B] uint16
    # An MIS sequence with an empty query: its delimiters would see no key at all (FlashInfer's
    # mask has no "attend to yourself" case), or a sequence with a key limit (SequenceLayout.key_len):
    # the batch runs on the torch backend instead.
    needs_fallback: bool = False
    causal: bool = True  # False: encoders, every sequence bidirectional (never MIS)
    # Keys as one-row pages of ``[batch k ; cached k]`` ([T + Tc, Hkv, D]): each sequence's cached
    # prefix (rows T + cached_start ...), then its own rows. None when no sequence has a cached prefix.
    kv_indptr: Optional[torch.Tensor] = None  # [B + 1] int32
    kv_pages: Optional[torch.Tensor] = None  # [kv_indptr[-1]] int32

    @property
    def is_mis(self) -> bool:
        return self.prefix_len is not None

    @property
    def has_cached_prefix(self) -> bool:
        return self.kv_pages is not None


def item_positions(item_lens: torch.Tensor) -> torch.Tensor:
    """item_lens [N] -> [N + sum(item_lens) + 1] long: ``0, 1..len_1, 0, 1..len_2, ..., 0``."""
    n = int(item_lens.shape[0])
    runs = item_lens + 1  # each item with the delimiter before it
    total = int(runs.sum()) + 1  # + the closing delimiter
    starts = torch.cumsum(runs, 0) - runs  # [N] index of each item's opening delimiter
    pos = torch.arange(total, dtype=torch.long)
    owner = torch.repeat_interleave(torch.arange(n), runs)  # [total - 1] item of each slot
    pos[:-1] -= starts[owner]
    pos[-1] = 0
    return pos


def _indptr(lens: list[int]) -> torch.Tensor:
    indptr = torch.zeros(len(lens) + 1, dtype=torch.int32)
    indptr[1:] = torch.cumsum(torch.tensor(lens, dtype=torch.int32), 0)
    return indptr


def _kv_pages(layouts: list[SequenceLayout]) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (kv_indptr [B + 1], pages [sum(cached_len + length)]) over ``[batch k ; cached k]``."""
    total_rows = sum(s.length for s in layouts)
    pages = [torch.cat([torch.arange(total_rows + s.cached_start, total_rows + s.cached_start + s.cached_len),
                        torch.arange(s.start, s.start + s.length)]) for s in layouts]
    return _indptr([s.cached_len + s.length for s in layouts]), torch.cat(pages).to(torch.int32)


def build_plan_inputs(layouts: list[SequenceLayout], causal: bool = True) -> FlashInferPlanInputs:
    indptr = _indptr([s.length for s in layouts])
    kv_indptr = kv_pages = None
    if any(s.cached_len for s in layouts):
        if not causal:
            raise ValueError("cached prefixes need causal attention")
        kv_indptr, kv_pages = _kv_pages(layouts)
    mis = [s for s in layouts if s.query_len is not None]
    if not mis:
        # A key limit (ColBERT's query expansion) is not planned here: such a batch runs on the torch backend.
        return FlashInferPlanInputs(indptr, None, None, 0, None, causal=causal, kv_indptr=kv_indptr, kv_pages=kv_pages,
                                    needs_fallback=any(s.key_len is not None for s in layouts))
    if not causal:
        raise ValueError("MIS sequences need causal attention")
    runs = [item_positions(s.item_lens) if s.query_len is not None else None for s in layouts]
    width = max(int(r.shape[0]) for r in runs if r is not None)
    token_pos = torch.zeros(len(layouts), width, dtype=torch.long)
    prefix, max_item = [], []
    for b, (seq, run) in enumerate(zip(layouts, runs)):
        if run is None:
            prefix.append(seq.cached_len + seq.length)  # all prefix: plain causal
            max_item.append(0)
            continue
        if run.shape[0] != seq.length - seq.query_len:
            raise ValueError(f"sequence {b}: {seq.length - seq.query_len} tokens after the query, items say {run.shape[0]}")
        token_pos[b, : run.shape[0]] = run
        prefix.append(seq.cached_len + seq.query_len)  # in keys: the cached query tokens count
        max_item.append(int(seq.item_lens.max()) if seq.item_lens.numel() else 0)
    if max(max_item) > _UINT16_MAX:
        raise ValueError(f"an item of {max(max_item)} tokens is longer than FlashInfer's uint16 positions allow")
    return FlashInferPlanInputs(
        indptr=indptr,
        prefix_len=torch.tensor(prefix, dtype=torch.uint32),
        token_pos_in_items=token_pos.reshape(-1).to(torch.uint16),
        token_pos_in_items_len=width,
        max_item_len=torch.tensor(max_item, dtype=torch.uint16),
        needs_fallback=any(s.cached_len + s.query_len == 0 for s in mis),
        kv_indptr=kv_indptr,
        kv_pages=kv_pages,
    )
