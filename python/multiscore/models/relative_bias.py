"""T5's relative-position bias, shared by MPNet and T5 encoders: the bidirectional buckets of the
distance j - i, a [buckets, heads] table looked up once per chunk length: the ``bias`` that
sequence_chunks.attend_in_chunks adds to each chunk's scores (as SDPA's float mask)."""

from __future__ import annotations

import math

import torch
from torch import nn

_MAX_DISTANCE = 128  # MPNet's: distances from here on share the last bucket


def relative_buckets(relative: torch.Tensor, num_buckets: int, max_distance: int = _MAX_DISTANCE) -> torch.Tensor:
    """``relative`` = key position - query position -> T5's bidirectional bucket: half the buckets
    for keys before the query, half for keys after it; in each half, distances under a quarter of
    ``num_buckets`` get a bucket each and longer ones log-spaced buckets up to ``max_distance``."""
    half = num_buckets // 2
    exact = half // 2
    n = relative.abs()
    # clamp: log(0) is never used (torch.where takes n there) but must not be -inf in the long cast
    far = exact + (torch.log(n.clamp(min=1).float() / exact) / math.log(max_distance / exact) * (half - exact)).long()
    return (relative > 0).long() * half + torch.where(n < exact, n, far.clamp(max=half - 1))


class RelativeBias:
    """A forward's [H, L, L] bias per chunk length (every layer reads the same)."""

    def __init__(self, table: nn.Embedding, max_distance: int = _MAX_DISTANCE) -> None:
        self.table = table
        self.max_distance = max_distance
        self._by_length: dict[int, torch.Tensor] = {}

    def __call__(self, length: int) -> torch.Tensor:
        if length not in self._by_length:
            pos = torch.arange(length, device=self.table.weight.device)
            buckets = relative_buckets(pos[None, :] - pos[:, None], self.table.num_embeddings,
                                       self.max_distance)  # [L (queries), L (keys)]
            self._by_length[length] = self.table(buckets).permute(2, 0, 1)  # [H, L, L]
        return self._by_length[length]

