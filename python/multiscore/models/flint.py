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
import torch.nn.functional as F
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
from multiscore.models.experts import StackedExperts, mix_experts
from multiscore.models.qwen3 import qwen3_options
from multiscore.models.sparse_moe import is_sparse_layer


class SharedExpertMoeBlock(nn.Module):
    """``mlp.gate`` (the router [E, H], float32; sigmoid or softmax scores, no groups, the top k renormalised when
    ``norm_topk_prob``), ``mlp.experts`` (one gated MLP each, or ``stacked`` 3-D: Lara's) and ``mlp.shared_expert``,
    added ungated (Flint's, Lara's, Laguna's)."""

    def __init__(self, config, options: BlockOptions, sigmoid: bool, stacked: bool = False, biased: bool = False) -> None:
        """``biased``: the choice adds ``e_score_correction_bias`` (Laguna's)."""
        super().__init__()
        self.gate = DeepseekRouter(config, sigmoid=sigmoid, float32=True)  # one group, scaled by 1 (adapt_config)
        if not biased:
            self.gate.e_score_correction_bias = None  # chosen by the scores alone
        inner, E = config.moe_intermediate_size, config.num_experts
        self.stacked = stacked
        self.experts = (StackedExperts(E, config.hidden_size, inner, F.silu) if stacked
                        else nn.ModuleList(GatedMLP(config, options, inner) for _ in range(E)))
        self.shared_expert = GatedMLP(config, options, config.shared_expert_intermediate_size)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = self.gate(x)  # [T, k] each
        out = (self.experts(x, weights, experts) if self.stacked
               else mix_experts(x, weights, experts, lambda expert, rows: self.experts[expert](rows, ops)))
        return out + self.shared_expert(x, ops)


def read_as_one_group_router(hf_config, scaling: float = 1.0) -> None:
    """DeepseekRouter's names for a router over ``num_experts`` in one group, its weights scaled by ``scaling``."""
    hf_config.n_routed_experts, hf_config.n_group, hf_config.topk_group = hf_config.num_experts, 1, 1
    hf_config.routed_scaling_factor = scaling


def flint_options(config) -> BlockOptions:
    return replace(qwen3_options(config), attention_sinks=True, rotary_layer=sliding_layers_rotate,
                   mlp_for_layer=lambda config, options, layer_id: (
                       SharedExpertMoeBlock(config, options, sigmoid=True) if is_sparse_layer(config, layer_id)
                       else GatedMLP(config, options)))


class _Flint:
    options_for = staticmethod(flint_options)
    weight_renames = {".self_attn.softmax_offset": ".self_attn.sinks"}  # the sinks' name in its first checkpoints

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        read_as_one_group_router(hf_config)


class FlintForCausalLM(_Flint, DecoderForCausalLM):
    pass


class FlintForSequenceClassification(_Flint, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class FlintModel(_Flint, DecoderForEmbedding):
    pass
