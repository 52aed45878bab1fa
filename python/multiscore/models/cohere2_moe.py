"""Cohere's Command A+ (``cohere2_moe``: CohereLabs/command-a-plus-*): ``Cohere2MoeForCausalLM`` (read at label
tokens, logits times ``logit_scale``), ``Cohere2MoeModel`` and our ``Cohere2MoeForSequenceClassification`` (what
``classifier_from_token`` converts the causal LM to).

Command R7B's parallel block (one norm feeds attention and MLP: an RMSNorm where ``rms_norm_eps`` is set, else
Cohere's bias-free LayerNorm), rotary over interleaved pairs on the sliding layers and, where
``prefix_dense_sliding_window_pattern`` is 1, on the dense prefix layers too (the other global layers are NoPE).
MLPs: ``dense`` layers of ``prefix_dense_intermediate_size``; ``sparse`` ones route each token to its top-k experts
by router logit, weighted by the softmax over those k (or their sigmoids, renormalised with ``norm_topk_prob``),
beside ``num_shared_experts`` shared ones, summed or averaged (``shared_expert_combination_strategy``).

MIS is exact: routing is per token, windows and rotary by each item's single-item positions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.models.cohere import ParallelBody, ParallelLayer, _Cohere, cohere_options
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
)
from multiscore.models.experts import mix_experts


class Cohere2MoeBlock(nn.Module):
    """``mlp.gate`` (the router [E, H]), ``mlp.experts.{e}`` and ``mlp.shared_experts``."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        if config.expert_selection_fn not in ("softmax", "sigmoid"):
            raise ValueError(f"expert_selection_fn {config.expert_selection_fn!r} is not supported (softmax, sigmoid)")
        if config.shared_expert_combination_strategy not in ("sum", "average"):
            raise ValueError(f"shared_expert_combination_strategy {config.shared_expert_combination_strategy!r} "
                             "is not supported (sum, average)")
        self.top_k, self.selection = config.num_experts_per_tok, config.expert_selection_fn
        self.renormalise, self.average = bool(config.norm_topk_prob), config.shared_expert_combination_strategy == "average"
        self.gate = nn.Linear(config.hidden_size, config.num_experts, bias=False)  # plain: read in the model's dtype
        self.experts = nn.ModuleList(GatedMLP(config, options, config.intermediate_size) for _ in range(config.num_experts))
        shared = config.num_shared_experts
        self.shared_experts = GatedMLP(config, options, config.intermediate_size * shared) if shared else None

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        logits, experts = self.gate(x).topk(self.top_k, dim=-1)  # [T, k] each
        if self.selection == "softmax":
            weights = torch.softmax(logits.float(), dim=-1)
        else:
            weights = torch.sigmoid(logits)
            if self.renormalise:
                weights = weights / weights.sum(dim=-1, keepdim=True)
        out = mix_experts(x, weights.to(x.dtype), experts, lambda expert, rows: self.experts[expert](rows, ops))
        if self.shared_experts is None:
            return out
        out = out + self.shared_experts(x, ops)
        return out / 2 if self.average else out


def _rotates(config, layer_id: int) -> bool:
    """The sliding layers rotate; the dense prefix ones too where its window pattern is 1 (transformers' force_rope)."""
    if config.layer_types[layer_id] == "sliding_attention":
        return True
    return config.mlp_layer_types[layer_id] == "dense" and config.prefix_dense_sliding_window_pattern == 1


def _norm(config) -> nn.Module:
    if config.rms_norm_eps is not None:
        return nn.RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
    return nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=False)


def cohere2_moe_layer(config, window: Optional[int], layer_id: int) -> ParallelLayer:
    options = replace(cohere_options(config), rotary_layer=_rotates)
    attention = DecoderAttention(config, options, window, layer_id=layer_id)
    dense = config.mlp_layer_types[layer_id] == "dense"
    mlp = GatedMLP(config, options, config.prefix_dense_intermediate_size) if dense else Cohere2MoeBlock(config, options)
    return ParallelLayer(_norm(config), attention, mlp)


class _Cohere2Moe(_Cohere):
    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, cohere2_moe_layer, _norm(config))


class Cohere2MoeForCausalLM(_Cohere2Moe, DecoderForCausalLM):
    pass


class Cohere2MoeForSequenceClassification(_Cohere2Moe, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Cohere2MoeModel(_Cohere2Moe, DecoderForEmbedding):
    pass

