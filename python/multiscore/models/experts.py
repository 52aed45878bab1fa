"""What every mixture-of-experts block here shares: adding each token's routed experts, and experts
stored as 3-D tensors (Gemma 4's, Granite 4.0's).

Routing is per token with no capacity limit, so a token's output never depends on its batch: MIS and
single-item scoring route every token alike. Experts are visited in index order and their outputs
added in place, as transformers does, so the sums match it to rounding.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def mix_experts(x: torch.Tensor, weights: torch.Tensor, experts: torch.Tensor,
                run: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """x [T, H] (the experts' input), weights / experts [T, k] -> Σ over each token's k experts of
    weight · ``run(expert, its rows of x)`` ([n, D] for n rows) -> [T, D]."""
    out = None
    for expert in torch.unique(experts).tolist():
        rows, slot = torch.where(experts == expert)  # [n] tokens routed to it, and at which of their k
        h = run(expert, x[rows])
        if out is None:
            out = x.new_zeros(x.shape[0], h.shape[1])
        out.index_add_(0, rows, h * weights[rows, slot, None].to(h.dtype))
    return x.new_zeros(x.shape) if out is None else out


class StackedExperts(nn.Module):
    """``num_experts`` gated MLPs stored as 3-D tensors: ``gate_up_proj`` [E, 2I, H] ([gate | up] per
    expert) and ``down_proj`` [E, H, I]; ``act`` on the gate."""

    def __init__(self, num_experts: int, hidden: int, inner: int, act: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.empty(num_experts, 2 * inner, hidden))
        self.down_proj = nn.Parameter(torch.empty(num_experts, hidden, inner))
        self.act = act

    def forward(self, x: torch.Tensor, weights: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        """x [T, H], weights / experts [T, k] -> [T, H]."""
        return mix_experts(x, weights, experts, self._expert)

    def _expert(self, expert: int, x: torch.Tensor) -> torch.Tensor:
        gate, up = F.linear(x, self.gate_up_proj[expert]).chunk(2, dim=-1)
        return F.linear(self.act(gate) * up, self.down_proj[expert])
