"""Lara Mini (translated/Lara-4-Mini-*): ``LaraMiniForCausalLM``, ``LaraMiniModel``, and our
``LaraMiniForSequenceClassification`` (for ``classifier_from_token``).

Qwen3.5's hybrid of gated delta-net layers (models/gated_delta_net.py; MIS by recurrent state) and attention
layers, with:
- RMSNorms that scale by ``w`` (not Qwen3.5's ``1 + w``);
- Qwen3's attention (per-head q/k norms, no output gate): sliding layers by ``layer_types`` that rotate, full
  layers without rotary;
- the delta net's projections fused in one ``in_proj`` (rows [q | k | v | z | b | a]), its gated norm named
  ``out_norm``;
- in every layer experts stored 3-D behind a float32 softmax router (top k renormalised) beside a shared expert
  added ungated (flint.SharedExpertMoeBlock).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from multiscore.configs.attention_geometry import layer_windows
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    sliding_layers_rotate,
)
from multiscore.models.flint import SharedExpertMoeBlock, read_as_one_group_router
from multiscore.models.gated_delta_net import GatedDeltaNet, RecurrentHeads, RotaryHybridBody
from multiscore.models.qwen3 import qwen3_options


class FusedInputDeltaNet(GatedDeltaNet):
    """Qwen3.5's delta net with one ``in_proj`` [q | k | v | z | b | a]."""

    def make_projections(self, config) -> None:
        self.in_proj = Linear(config.hidden_size, 2 * self.key_size + 2 * self.value_size + 2 * self.v_heads, bias=False)

    def project(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        sizes = [2 * self.key_size + self.value_size, self.value_size, self.v_heads, self.v_heads]
        qkv, z, b, a = self.in_proj(hidden).split(sizes, dim=-1)
        return qkv, z, b, a


class LaraMiniLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.rms_norm_eps
        options = replace(qwen3_options(config), rotary_layer=sliding_layers_rotate)
        self.linear = config.layer_types[layer_id] == "linear_attention"
        if self.linear:
            self.linear_attn = FusedInputDeltaNet(config)
        else:
            self.self_attn = DecoderAttention(config, options, layer_windows(config)[layer_id], layer_id=layer_id)
        self.mlp = SharedExpertMoeBlock(config, options, sigmoid=False, stacked=True)
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(H, eps), RMSNorm(H, eps)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        ops = ctx.ops
        normed = ops.rms_norm(hidden, self.input_layernorm.weight, self.input_layernorm.eps)
        mixed = self.linear_attn(normed, plan) if self.linear else self.self_attn(normed, ctx)
        norm = self.post_attention_layernorm
        hidden, normed = ops.add_rms_norm(mixed, hidden, norm.weight, norm.eps)
        return hidden + self.mlp(normed, ops)


class LaraMiniBody(RotaryHybridBody):
    """``model.*`` of a Lara Mini checkpoint."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(LaraMiniLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, config.head_dim)
        self.ops = EAGER


class _LaraMini(RecurrentHeads):
    make_body = staticmethod(LaraMiniBody)
    family = "Lara Mini"
    prefix_cache_problem = "its linear-attention layers keep a recurrent state, not per-token keys"
    embed_overrides_problem = "not implemented for its linear-attention layers (refused before any batch runs)"
    weight_renames = {".linear_attn.out_norm.": ".linear_attn.norm."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        read_as_one_group_router(hf_config)


class LaraMiniForCausalLM(_LaraMini, DecoderForCausalLM):
    pass


class LaraMiniForSequenceClassification(_LaraMini, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class LaraMiniModel(_LaraMini, DecoderForEmbedding):
    pass
