"""The sparse mixture-of-experts MLP of Qwen2-MoE, Qwen3-MoE, Qwen3.5-MoE, Mixtral and Qwen3-VL-MoE (``mlp.gate``,
``mlp.experts.{e}.*``, and Qwen2-/Qwen3.5-MoE's ``mlp.shared_expert`` behind a sigmoid ``mlp.shared_expert_gate``).

A router picks ``num_experts_per_tok`` of ``num_experts`` gated MLPs per token (softmax in float32,
the top k renormalised when ``norm_topk_prob``, always for Qwen3.5-MoE, whose config has no such
key); experts.py adds them up.
Layers listed in ``mlp_only_layers``, or off the ``decoder_sparse_step`` grid (or "dense" in ``mlp_layer_types``), keep a dense MLP
(Qwen3.5-MoE has neither key: every layer is sparse). Qwen3-VL-MoE ships its experts as 3-D tensors
(``StackedMoeBlock``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.layers.linear import Linear
from multiscore.models.decoder import BlockOptions, GatedMLP
from multiscore.models.experts import StackedExperts, mix_experts


def is_sparse_layer(config, layer_id: int) -> bool:
    types = getattr(config, "mlp_layer_types", None)  # Mellum's ("dense" / "sparse" per layer)
    if types:
        return types[layer_id] == "sparse"
    return (layer_id not in (getattr(config, "mlp_only_layers", None) or []) and getattr(config, "num_experts", 0) > 0
            and (layer_id + 1) % getattr(config, "decoder_sparse_step", 1) == 0)


def moe_or_dense_mlp(config, options: BlockOptions, layer_id: int) -> nn.Module:
    """BlockOptions.mlp_for_layer of the MoE architectures."""
    return SparseMoeBlock(config, options) if is_sparse_layer(config, layer_id) else GatedMLP(config, options)


class SparseMoeBlock(nn.Module):
    def __init__(self, config, options: BlockOptions, num_experts: Optional[int] = None, inner: Optional[int] = None) -> None:
        """``num_experts`` / ``inner``: where the config names them otherwise (Mixtral: ``num_local_experts``,
        ``intermediate_size``); None: ``num_experts`` / ``moe_intermediate_size``."""
        super().__init__()
        self.top_k, self.norm_topk_prob = config.num_experts_per_tok, bool(getattr(config, "norm_topk_prob", True))
        num_experts = num_experts or config.num_experts
        self.gate = Linear(config.hidden_size, num_experts, bias=False)  # the router
        self.experts = nn.ModuleList(GatedMLP(config, options, inner or config.moe_intermediate_size)
                                     for _ in range(num_experts))
        shared = getattr(config, "shared_expert_intermediate_size", 0)
        self.shared_expert = GatedMLP(config, options, shared) if shared else None
        self.shared_expert_gate = Linear(config.hidden_size, 1, bias=False) if shared else None

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]: each token's experts, weighted and summed in expert order (as transformers adds them)."""
        probs = torch.softmax(self.gate(x).float(), dim=-1)  # [T, E]
        weights, experts = torch.topk(probs, self.top_k, dim=-1)  # [T, k] each
        if self.norm_topk_prob:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        out = mix_experts(x, weights.to(x.dtype), experts, lambda expert, rows: self.experts[expert](rows, ops))
        if self.shared_expert is not None:
            out = out + torch.sigmoid(self.shared_expert_gate(x)) * self.shared_expert(x, ops)
        return out


def stacked_moe_or_dense_mlp(config, options: BlockOptions, layer_id: int) -> nn.Module:
    """BlockOptions.mlp_for_layer of Qwen3-VL-MoE's language model."""
    return StackedMoeBlock(config) if is_sparse_layer(config, layer_id) else GatedMLP(config, options)


class StackedMoeBlock(nn.Module):
    """Qwen3-VL-MoE's: the router ``gate`` [E, H] and ``experts`` stored 3-D, as the hub ships them
    (``gate_up_proj`` [E, H, 2I] with [gate | up] columns, ``down_proj`` [E, I, H]: transposed as they load)
    or as transformers 5 saves them (StackedExperts' layout, read as is; a square expert, 2I = H, is read
    so); softmax over every expert in float32, the top k renormalised."""

    def __init__(self, config) -> None:
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.gate = Linear(config.hidden_size, config.num_experts, bias=False)
        self.experts = StackedExperts(config.num_experts, config.hidden_size, config.moe_intermediate_size, F.silu)
        self.experts.either_orientation = True  # the weight loader transposes a tensor only its transpose fits

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = torch.topk(torch.softmax(self.gate(x).float(), dim=-1), self.top_k, dim=-1)  # [T, k]
        return self.experts(x, (weights / weights.sum(dim=-1, keepdim=True)).to(x.dtype), experts)
