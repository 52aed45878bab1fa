"""T5's relative-position bias, shared by MPNet, T5 encoders and T5's classifiers' decoders: the buckets of the
distance j - i (bidirectional, or a decoder's unidirectional ones), a [buckets, heads] table looked up once per
chunk length: the ``bias`` that sequence_chunks.attend_in_chunks adds to each chunk's scores (as SDPA's float mask)."""

from __future__ import annotations

import math

import torch
from torch import nn

_MAX_DISTANCE = 128  # MPNet's: distances from here on share the last bucket


def relative_buckets(relative: torch.Tensor, num_buckets: int, max_distance: int = _MAX_DISTANCE,
                     bidirectional: bool = True) -> torch.Tensor:
    """``relative`` = key position - query position -> T5's bucket. Bidirectional: half the buckets for keys
    before the query, half for keys after it; unidirectional (T5's decoder): all for keys at or before it (later
    keys share bucket 0). In each range, distances under half of it get a bucket each and longer ones log-spaced
    buckets up to ``max_distance``."""
    if bidirectional:
        span, offset, n = num_buckets // 2, (relative > 0).long() * (num_buckets // 2), relative.abs()
    else:
        span, offset, n = num_buckets, 0, (-relative).clamp(min=0)
    exact = span // 2
    # clamp: log(0) is never used (torch.where takes n there) but must not be -inf in the long cast
    far = exact + (torch.log(n.clamp(min=1).float() / exact) / math.log(max_distance / exact) * (span - exact)).long()
    return offset + torch.where(n < exact, n, far.clamp(max=span - 1))


class RelativeBias:
    """A forward's [H, L, L] bias per chunk length (every layer reads the same)."""

    def __init__(self, table: nn.Embedding, max_distance: int = _MAX_DISTANCE, bidirectional: bool = True) -> None:
        self.table = table
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self._by_length: dict[int, torch.Tensor] = {}

    def __call__(self, length: int) -> torch.Tensor:
        if length not in self._by_length:
            pos = torch.arange(length, device=self.table.weight.device)
            buckets = relative_buckets(pos[None, :] - pos[:, None], self.table.num_embeddings,
                                       self.max_distance, self.bidirectional)  # [L (queries), L (keys)]
            self._by_length[length] = self.table(buckets).permute(2, 0, 1)  # [H, L, L]
        return self._by_length[length]

