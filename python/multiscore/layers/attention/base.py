from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch


@dataclass
class SequenceLayout:
    """Where one packed sequence sits in the flat batch and how its tokens may attend.

    ``query_len is None``: a plain sequence (causal, or bidirectional for an encoder). Otherwise an
    MIS sequence ``query D item_1 D ... item_N D`` with ``item_lens`` [N] (DESIGN.md §4).
    """

    start: int  # first row in the flat batch
    length: int  # rows in the flat batch (cached tokens excluded)
    query_len: Optional[int] = None  # rows of the query in the flat batch (cached tokens excluded)
    item_lens: Optional[torch.Tensor] = None  # [N] long, CPU
    # Leading tokens with no row: their keys/values come from the prefix cache, rows
    # cached_start .. cached_start + cached_len of the batch's prefix K/V (PrefixKV.load).
    cached_len: int = 0
    cached_start: int = 0
    # Bidirectional only: every token attends to the first ``key_len`` tokens alone (None: to all).
    # ColBERT's query expansion: the [MASK] tokens padding a query read it, and nothing reads them.
    key_len: Optional[int] = None


class AttentionBackend:
    """Prefill-only attention over a packed batch: flat q/k/v rows, no padding between sequences."""

    name = "base"
    reads_rows = False  # forward takes ``rows`` (BatchAttention.__call__) and computes only those

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype

    def use_fused_ops(self, ops) -> None:
        """``ops``: layers/fused_ops.FusedOps, eager or compiled (model_executor/compile.py); a backend
        whose element-wise work has a chain there takes it (the torch backend's MIS merge)."""

    def build_metadata(self, layouts: list[SequenceLayout], causal: bool = True) -> Any:
        """Once per batch, shared by every layer. ``causal=False``: every plain sequence attends
        bidirectionally (encoders; no MIS sequence then)."""
        raise NotImplementedError

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, metadata: Any, scale: float,
                softcap: Optional[float] = None, window: Optional[int] = None) -> torch.Tensor:
        """q [T, Hq, D], k/v [T, Hkv, D] -> [T, Hq, D]. ``softcap``: scores -> softcap·tanh(scores/softcap);
        ``window``: a token at position p sees only keys at positions > p - window (causal), or
        within ``window - 1`` positions of p on either side (bidirectional)."""
        raise NotImplementedError


@dataclass
class BatchAttention:
    """A backend and the metadata it built for this batch: what every attention layer calls.

    ``prefix``: the prefix cache's view of this batch (model_executor/prefix_cache.PrefixKV): each
    layer stores the keys/values it computed for cacheable rows and reads the cached ones."""

    backend: AttentionBackend
    metadata: Any
    prefix: Any = None

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                 softcap: Optional[float] = None, window: Optional[int] = None, layer: Optional[int] = None,
                 sinks: Optional[torch.Tensor] = None, rows: Optional[torch.Tensor] = None,
                 first_key_global: bool = False) -> torch.Tensor:
        """q [T, Hq, D], k/v [T, Hkv, D] -> [T, Hq, D]; ``layer``: the caller's index (prefix cache);
        ``sinks`` [Hq]: a logit per head in each softmax's denominator, matched by no value (GPT-OSS);
        ``rows`` [R]: only these rows' outputs, [R, Hq, D] (every row still a key: a last layer);
        ``first_key_global``: a bidirectional ``window`` leaves each sequence's first key visible to every row
        (Longformer's global first token)."""
        return self.attend(q, k, v, scale, softcap, window, self.cached_kv(layer, k, v), sinks, rows, first_key_global)

    def cached_kv(self, layer: Optional[int], k: torch.Tensor, v: torch.Tensor):
        """Stores layer ``layer``'s keys/values [T, Hkv, D] of the rows the cache keeps -> the cached
        prefixes' (k, v) [Tc, Hkv, D] it reads, or None without a prefix cache."""
        return None if self.prefix is None else self.prefix.exchange(layer, k, v)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, softcap: Optional[float] = None,
               window: Optional[int] = None, prefix_kv=None, sinks: Optional[torch.Tensor] = None,
               rows: Optional[torch.Tensor] = None, first_key_global: bool = False) -> torch.Tensor:
        """``__call__`` with the cached prefixes' keys/values already fetched (``cached_kv``): layers that
        reuse an earlier layer's keys and values (Gemma 4's KV sharing) reuse its cached ones too."""
        extras = {name: value for name, value in (("softcap", softcap), ("window", window), ("sinks", sinks))
                  if value is not None}
        if first_key_global and window is not None:
            extras["first_key_global"] = True
        if prefix_kv is not None:
            extras["prefix_kv"] = prefix_kv  # ([Tc, Hkv, D], [Tc, Hkv, D])
        if rows is not None:
            if not self.backend.reads_rows:  # every row, then the read ones
                return self.backend.forward(q, k, v, self.metadata, scale, **extras).index_select(0, rows)
            extras["rows"] = rows
        return self.backend.forward(q, k, v, self.metadata, scale, **extras)
