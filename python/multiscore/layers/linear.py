"""A linear layer that stacks several projections along its output, so they run as one matmul."""

from __future__ import annotations

from collections.abc import Hashable

import torch
from torch import nn


class FusedLinear(nn.Linear):
    """``[q; k; v]`` or ``[gate; up]`` in one weight ``[sum(sizes), in]``.

    Checkpoints store the parts as separate tensors; a model names them in its
    ``packed_modules_mapping`` (checkpoint name -> (this layer, shard id)) and the loader hands each
    one to ``weight_loader``, which copies it into the shard's rows.
    """

    def __init__(self, in_features: int, shard_sizes: dict[Hashable, int], bias: bool) -> None:
        super().__init__(in_features, sum(shard_sizes.values()), bias=bias)
        self.shard_rows: dict[Hashable, slice] = {}
        start = 0
        for shard_id, size in shard_sizes.items():
            self.shard_rows[shard_id] = slice(start, start + size)
            start += size

    def weight_loader(self, param: nn.Parameter, loaded: torch.Tensor, shard_id: Hashable) -> None:
        rows = param.data[self.shard_rows[shard_id]]  # weight [rows, in] or bias [rows]
        if rows.shape != loaded.shape:
            raise ValueError(f"shape {tuple(loaded.shape)}, but shard {shard_id!r} of this layer is {tuple(rows.shape)}")
        rows.copy_(loaded)
