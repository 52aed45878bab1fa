"""Gemma 4's mixture-of-experts block (26B-A4B: ``enable_moe_block``), run beside the dense MLP of
every layer: a router picks ``top_k_experts`` of ``num_experts`` per token, and each expert is a
GELU-tanh gated MLP. Routing is per token, so a token's output never depends on its batch: MIS and
single-item scoring route every token alike."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.models.experts import StackedExperts


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


def gemma4_experts(config) -> StackedExperts:
    """``experts``: ``num_experts`` GELU-tanh gated MLPs of ``moe_intermediate_size``, as 3-D tensors."""
    return StackedExperts(config.num_experts, config.hidden_size, config.moe_intermediate_size,
                          lambda t: F.gelu(t, approximate="tanh"))
