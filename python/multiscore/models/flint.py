"""Flint (RecursiveSI/flint): ``FlintForCausalLM``, ``FlintModel``, and our ``FlintForSequenceClassification``
(for ``classifier_from_token``).

Qwen3-MoE's blocks (q/k norms per head) with:
- a learned sink per head (``self_attn.sinks``, an extra softmax logit, as GPT-OSS's) in every layer;
- sliding layers by ``layer_types`` that rotate, and full-attention layers without rotary;
- dense MLPs in ``mlp_only_layers``; elsewhere experts picked by a float32 sigmoid router (no bias, no groups),
  the top k renormalised when ``norm_topk_prob``, beside a shared expert added ungated
  (``shared_expert_intermediate_size``).

MIS is exact: routing and sinks are per token, rotary by each item token's single-item position.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
    sliding_layers_rotate,
)
from multiscore.models.deepseek import DeepseekRouter
from multiscore.models.experts import mix_experts
from multiscore.models.qwen3 import qwen3_options
from multiscore.models.sparse_moe import is_sparse_layer


class FlintMoeBlock(nn.Module):
    """``mlp.gate`` (the router [E, H], float32), ``mlp.experts.{e}``, ``mlp.shared_expert``."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.gate = DeepseekRouter(config, sigmoid=True, float32=True)  # one group, scaled by 1 (adapt_config)
        self.gate.e_score_correction_bias = None  # chosen by the sigmoid scores alone
        self.experts = nn.ModuleList(GatedMLP(config, options, config.moe_intermediate_size)
                                     for _ in range(config.num_experts))
        self.shared_expert = GatedMLP(config, options, config.shared_expert_intermediate_size)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = self.gate(x)  # [T, k] each
        out = mix_experts(x, weights, experts, lambda expert, rows: self.experts[expert](rows, ops))
        return out + self.shared_expert(x, ops)


def flint_options(config) -> BlockOptions:
    return replace(qwen3_options(config), attention_sinks=True, rotary_layer=sliding_layers_rotate,
                   mlp_for_layer=lambda config, options, layer_id: (
                       FlintMoeBlock(config, options) if is_sparse_layer(config, layer_id) else GatedMLP(config, options)))


class _Flint:
    options_for = staticmethod(flint_options)
    weight_renames = {".self_attn.softmax_offset": ".self_attn.sinks"}  # the sinks' name in its first checkpoints

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        # DeepseekRouter's names: every expert in one group, the weights scaled by 1.
        hf_config.n_routed_experts, hf_config.n_group, hf_config.topk_group = hf_config.num_experts, 1, 1
        hf_config.routed_scaling_factor = 1.0


class FlintForCausalLM(_Flint, DecoderForCausalLM):
    pass


class FlintForSequenceClassification(_Flint, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class FlintModel(_Flint, DecoderForEmbedding):
    pass
