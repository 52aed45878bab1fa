"""Aleph Alpha's Kolibri-1 (``kolibri1``, ``kolibri1_1``): ``Kolibri1ForCausalLM``, ``Kolibri1Model`` and our
``Kolibri1ForSequenceClassification`` (what ``classifier_from_token`` converts the causal LM to).

EXAONE 4.0's attention (per-head q/k norms; the sliding layers rotate, the global ones are NoPE) in GLM-4's
sandwich of norms (the published ``post_attn_norm`` / ``post_ffn_norm`` and transformers' names both read as
Gemma2's), and in every layer experts: each token's top k by router logit plus ``expert_bias`` (the router in
float32), weighted by the sigmoids of their logits (renormalised with ``norm_topk_prob``), beside a shared
expert of ``shared_expert_intermediate_size``.

MIS is exact: routing is per token, windows and rotary by each item's single-item positions.
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
)
from multiscore.models.exaone4 import exaone4_options
from multiscore.models.experts import mix_experts


class KolibriMoeBlock(nn.Module):
    """``mlp.gate`` (the router [E, H], float32), ``mlp.gate_bias`` [E], ``mlp.experts.{e}``, ``mlp.shared_experts``."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        E = config.num_experts
        self.top_k, self.renormalise = config.num_experts_per_tok, bool(config.norm_topk_prob)
        self.gate = nn.Linear(config.hidden_size, E, bias=False)
        self.gate_bias = nn.Parameter(torch.zeros(E, dtype=torch.float32))
        self.experts = nn.ModuleList(GatedMLP(config, options, config.moe_intermediate_size) for _ in range(E))
        self.shared_experts = GatedMLP(config, options, config.shared_expert_intermediate_size)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        logits = F.linear(x.float(), self.gate.weight.float())  # [T, E]
        experts = (logits + self.gate_bias).topk(self.top_k, dim=-1).indices  # [T, k]
        weights = logits.gather(1, experts).sigmoid()
        if self.renormalise:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        out = mix_experts(x, weights.to(x.dtype), experts, lambda expert, rows: self.experts[expert](rows, ops))
        return out + self.shared_experts(x, ops)


def kolibri_options(config) -> BlockOptions:
    return replace(exaone4_options(config), post_norms_only=False, sandwich_norms=True,
                   mlp_for_layer=lambda config, options, layer_id: KolibriMoeBlock(config, options))


class _Kolibri:
    options_for = staticmethod(kolibri_options)
    # The published names and transformers' -> Gemma2's sandwich (DecoderLayer's) and ours, in this order.
    weight_renames = {"post_attention_layernorm.": "pre_feedforward_layernorm.",
                      "post_attn_norm.": "post_attention_layernorm.", "post_self_attn_layernorm.": "post_attention_layernorm.",
                      "post_ffn_norm.": "post_feedforward_layernorm.", "post_mlp_layernorm.": "post_feedforward_layernorm.",
                      "moe.router.expert_bias": "mlp.gate_bias", "mlp.gate.e_score_correction_bias": "mlp.gate_bias"}


class Kolibri1ForCausalLM(_Kolibri, DecoderForCausalLM):
    pass


class Kolibri1ForSequenceClassification(_Kolibri, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Kolibri1Model(_Kolibri, DecoderForEmbedding):
    pass
