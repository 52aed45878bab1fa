"""SPLADE's pooling: one vocabulary-sized lexical vector per text (what sentence-transformers'
``SparseEncoder`` and TEI's ``/embed_sparse`` compute). Every token's masked-LM logits [L, V] go
through ``log(1 + relu(.))`` and are reduced over the text's tokens (max, or sum), so a vocabulary
entry is non-zero where some token of the text predicts it. Most entries are exactly 0.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import PoolingMetadata

# Token rows per masked-LM chunk: bounds the [rows, V] float32 logits (~16 MB at V = 30522).
_ROWS = 128


class SpladePooler:
    """The pooler of a masked LM served as SPLADE: all hidden rows [T, H] -> [1, V] float32 per sequence."""

    def __init__(self, mlm_logits: Callable[[torch.Tensor], torch.Tensor], pooling: Optional[PoolingConfig]) -> None:
        self.mlm_logits = mlm_logits  # [r, H] -> [r, V]
        # SpladePooling's strategy; max (SPLADE's own) for a checkpoint without sentence-transformers files.
        self.strategy = (pooling.splade_strategy if pooling is not None else None) or "max"

    def rows(self, meta: PoolingMetadata) -> Optional[torch.Tensor]:
        return None  # every token of every sequence

    def __call__(self, hidden: torch.Tensor, meta: PoolingMetadata) -> list[torch.Tensor]:
        if meta.per_token:
            raise ValueError("a SPLADE model has one sparse vector per text, not one per token")
        lens = torch.tensor(meta.seq_lens, device=hidden.device)
        segment = torch.repeat_interleave(torch.arange(len(meta.seq_lens), device=hidden.device), lens)  # [T]
        pooled = None  # [B, V]
        for r0 in range(0, hidden.shape[0], _ROWS):  # row chunks across sequences: few, large products
            weights = torch.log1p(torch.relu(self.mlm_logits(hidden[r0 : r0 + _ROWS]).float()))  # [r, V], >= 0
            if pooled is None:
                pooled = weights.new_zeros(len(meta.seq_lens), weights.shape[1])  # 0 is below every weight
            if self.strategy == "max":
                pooled.index_reduce_(0, segment[r0 : r0 + _ROWS], weights, "amax")
            else:
                pooled.index_add_(0, segment[r0 : r0 + _ROWS], weights)
        return [self._activate(pooled[g.start : g.end], g.params.activation, g.params.dimensions) for g in meta.groups]

    @staticmethod
    def _activate(x: torch.Tensor, activation: str, dimensions: Optional[int]) -> torch.Tensor:
        if dimensions is not None:
            raise ValueError("'dimensions' does not apply to a SPLADE model: its vector has one entry per vocabulary token")
        return F.normalize(x, dim=-1) if activation == "l2" else x  # SPLADE vectors are not normalised
