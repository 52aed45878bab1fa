"""Gemma 4's mixture-of-experts block (26B-A4B: ``enable_moe_block``), run beside the dense MLP of
every layer: a router picks ``top_k_experts`` of ``num_experts`` per token, and each expert is a
GELU-tanh gated MLP. Routing is per token, so a token's output never depends on its batch: MIS and
single-item scoring route every token alike."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Gemma4Router(nn.Module):
    """hidden [T, H] -> (weights [T, k], experts [T, k]): softmax over the experts in float32, the top
    k renormalised to sum to 1, then scaled per expert (``per_expert_scale``)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.eps = config.rms_norm_eps
        self.top_k = config.top_k_experts
        self.proj = nn.Linear(config.hidden_size, config.num_experts, bias=False)
        self.scale = nn.Parameter(torch.ones(config.hidden_size))
        self.per_expert_scale = nn.Parameter(torch.ones(config.num_experts))

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normed = F.rms_norm(hidden.float(), (hidden.shape[-1],), None, self.eps).to(hidden.dtype)  # no weight of its own
        logits = self.proj(normed * self.scale * hidden.shape[-1] ** -0.5)  # [T, E]
        weights, experts = torch.topk(torch.softmax(logits, dim=-1, dtype=torch.float32), self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        return weights * self.per_expert_scale[experts], experts


class Gemma4Experts(nn.Module):
    """``num_experts`` gated MLPs stored as 3-D tensors, as the checkpoint has them:
    ``gate_up_proj`` [E, 2I, H] and ``down_proj`` [E, H, I]."""

    def __init__(self, config) -> None:
        super().__init__()
        experts, hidden, inner = config.num_experts, config.hidden_size, config.moe_intermediate_size
        self.gate_up_proj = nn.Parameter(torch.empty(experts, 2 * inner, hidden))
        self.down_proj = nn.Parameter(torch.empty(experts, hidden, inner))

    def forward(self, x: torch.Tensor, weights: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        """x [T, H], weights / experts [T, k] -> [T, H]: each token's experts, weighted and summed.
        Experts are visited in index order and added in place, as transformers does (same sums)."""
        out = torch.zeros_like(x)
        for expert in torch.unique(experts).tolist():
            rows, slot = torch.where(experts == expert)  # [n] tokens routed to it, and at which of their k
            gate, up = F.linear(x[rows], self.gate_up_proj[expert]).chunk(2, dim=-1)
            h = F.linear(F.gelu(gate, approximate="tanh") * up, self.down_proj[expert])  # [n, H]
            out.index_add_(0, rows, h * weights[rows, slot, None].to(h.dtype))
        return out
