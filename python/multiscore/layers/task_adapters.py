"""Low-rank adapters chosen per sequence: jina-embeddings-v3's LoRA tasks (Jina's ``task``) and PEFT LoRA
adapters (``--lora-modules``, model_executor/lora_adapters.py).

One copy of the base weights serves every adapter: a batch mixes sequences of different adapters (and
of none), and each adapted layer adds, on the rows of each adapter's sequences only, that adapter's
low-rank term (x·Aᵀ)·Bᵀ, the scaling folded into B. This is what a merged weight W + s·B·A computes on
those rows, without a copy of the weights per adapter. An adapted layer must see the whole batch (its
groups index the batch's rows): the model runs every row through every layer while adapters are on.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

# (adapter index, rows [R] long, or None for every row of the batch) per adapter the batch uses.
AdapterGroups = tuple[tuple[int, Optional[torch.Tensor]], ...]


class AdapterRows:
    """The batch's AdapterGroups, shared by every adapted layer of one model: ``PoolingModel.forward``
    sets them for the length of one forward pass (``ForwardBatch.adapter_groups``) and clears them after."""

    def __init__(self) -> None:
        self.groups: AdapterGroups = ()
        self.num_rows = 0  # the batch's rows, which every adapted layer must see at once


class LinearTaskAdapters:
    """A Linear's adapters: ``lora_a`` [N, r, in], ``lora_b`` [N, out, r] (scaled), made on the weight's
    device and dtype. ``Linear.forward`` adds their terms to its product before any fused activation.
    (Not an nn.Module: a submodule would hide behind ``Linear.task_adapters``'s class default.)"""

    def __init__(self, lora_a: torch.Tensor, lora_b: torch.Tensor, rows: AdapterRows) -> None:
        self.lora_a, self.lora_b, self.rows = lora_a, lora_b, rows

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x [T, in], the base product y [T, out] -> y with each group's term added (in place)."""
        if self.rows.groups and x.shape[0] != self.rows.num_rows:  # never another row's adapter
            raise RuntimeError(f"an adapted layer saw {x.shape[0]} rows of a {self.rows.num_rows}-row batch")
        for task, rows in self.rows.groups:
            if rows is None:  # every row: y += (x·Aᵀ)·Bᵀ in the product's own pass
                y.addmm_(F.linear(x, self.lora_a[task]), self.lora_b[task].T)
            else:
                y.index_add_(0, rows, F.linear(F.linear(x.index_select(0, rows), self.lora_a[task]), self.lora_b[task]))
        return y


class TaskAdaptedEmbedding(nn.Module):
    """An ``nn.Embedding`` with adapters: ``lora_a`` [N, vocab, r], ``lora_b`` [N, r, H] (scaled); a
    token's vector is its row of W + A·B of its sequence's task."""

    def __init__(self, base: nn.Embedding, lora_a: torch.Tensor, lora_b: torch.Tensor, rows: AdapterRows) -> None:
        super().__init__()
        self.base = base
        self.register_buffer("lora_a", lora_a)
        self.register_buffer("lora_b", lora_b)
        self.rows = rows

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """[T] -> [T, H]."""
        out = self.base(ids)
        for task, rows in self.rows.groups:
            if rows is None:
                out.add_(F.embedding(ids, self.lora_a[task]) @ self.lora_b[task])
            else:
                out.index_add_(0, rows, F.embedding(ids.index_select(0, rows), self.lora_a[task]) @ self.lora_b[task])
        return out
