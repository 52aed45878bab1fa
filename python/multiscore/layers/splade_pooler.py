"""SPLADE's pooling: one vocabulary-sized lexical vector per text (what sentence-transformers'
``SparseEncoder`` and TEI's ``/embed_sparse`` compute). Every token's masked-LM logits [L, V] go
through ``log(1 + relu(.))`` and are reduced over the text's tokens (max, or sum), so a vocabulary
entry is non-zero where some token of the text predicts it. Most entries are exactly 0.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from multiscore.layers.pooler import PoolingMetadata

# Token rows per masked-LM chunk: bounds the [rows, V] float32 logits (~16 MB at V = 30522).
_ROWS = 128


class SpladePooler:
    """The pooler of a masked LM served as SPLADE: all hidden rows [T, H] -> [1, V] float32 per sequence."""

    def __init__(self, mlm_logits: Callable[[torch.Tensor], torch.Tensor], strategy: str = "max") -> None:
        self.mlm_logits = mlm_logits  # [r, H] -> [r, V]
        self.strategy = strategy  # max | sum

    def rows(self, meta: PoolingMetadata) -> Optional[torch.Tensor]:
        return None  # every token of every sequence

    def __call__(self, hidden: torch.Tensor, meta: PoolingMetadata) -> list[torch.Tensor]:
        if meta.per_token:
            raise ValueError("a SPLADE model has one sparse vector per text, not one per token")
        starts = meta.seq_starts.tolist()
        vectors = [self._pool(hidden[s : s + n]) for s, n in zip(starts, meta.seq_lens)]
        pooled = torch.stack(vectors) if vectors else hidden.new_zeros((0, 0), dtype=torch.float32)  # [B, V]
        return [self._activate(pooled[g.start : g.end], g.params.activation, g.params.dimensions) for g in meta.groups]

    def _pool(self, rows: torch.Tensor) -> torch.Tensor:
        """One sequence's hidden rows [L, H] -> [V]."""
        out = None
        for r0 in range(0, rows.shape[0], _ROWS):
            weights = torch.log1p(torch.relu(self.mlm_logits(rows[r0 : r0 + _ROWS]).float()))  # [r, V]
            part = weights.amax(0) if self.strategy == "max" else weights.sum(0)
            out = part if out is None else (torch.maximum(out, part) if self.strategy == "max" else out + part)
        return out

    @staticmethod
    def _activate(x: torch.Tensor, activation: str, dimensions: Optional[int]) -> torch.Tensor:
        if dimensions is not None:
            raise ValueError("'dimensions' does not apply to a SPLADE model: its vector has one entry per vocabulary token")
        return F.normalize(x, dim=-1) if activation == "l2" else x  # SPLADE vectors are not normalised
