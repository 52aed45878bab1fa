"""Beam (Reflection AI, reflection/Beam-1.0-*): ``BeamForCausalLM``, ``BeamForTokenClassification``,
``BeamModel``, and our ``BeamForSequenceClassification`` (for ``classifier_from_token``).

Qwen3's attention (per-head q/k norms) with:
- the output gated dimension by dimension, σ(gate_proj(x) + gate_bias[head]);
- sliding layers by ``layer_types`` that rotate (``rope_parameters["sliding_attention"]``), full layers without
  rotary whose queries are scaled by (1 + (p + 1) / 2048)^0.1 at position p (scalable softmax);
- sandwich norms whose residual adds are depth-scaled: h = out / √n + h · √((n - 1) / n), n = 2(l + 1) after
  attention and 2(l + 1) + 1 after the MLP (the 1 / √n folded into the post-norms' weights as they load);
- dense MLPs where ``mlp_layer_types`` says, elsewhere DeepSeek-V3's routing (a float32 sigmoid router, the
  choice biased, groups, renormalised, ``routed_scaling_factor``) without shared experts;
- logits soft-capped (``final_logit_softcapping``).

MIS is exact: the query scale and windows by each item token's single-item position; the rest per token.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import layer_windows
from multiscore.layers.linear import Linear
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    DecoderLayer,
    DecoderModel,
    sliding_layers_rotate,
)
from multiscore.models.deepseek import deepseek_moe_mlp
from multiscore.models.qwen3 import qwen3_options

_SCALABLE_SOFTMAX_LENGTH = 2048.0  # the NoPE layers' query scale: (1 + (p + 1) / 2048) ** 0.1


class HeadBiasedGate(Linear):
    """``self_attn.gate_proj`` [Hq·D, H] (read as ``g_proj``) and ``gate_bias`` [Hq], added to each head's D gates."""

    def __init__(self, hidden: int, heads: int, head_dim: int) -> None:
        super().__init__(hidden, heads * head_dim, bias=False)
        self.heads, self.head_dim = heads, head_dim
        self.head_bias = nn.Parameter(torch.empty(heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [T, H] -> [T, Hq·D]."""
        gates = super().forward(x).view(-1, self.heads, self.head_dim) + self.head_bias[:, None].to(x.dtype)
        return gates.view(-1, self.heads * self.head_dim)


class BeamAttention(DecoderAttention):
    def __init__(self, config, options: BlockOptions, layer_id: int) -> None:
        super().__init__(config, options, layer_windows(config)[layer_id], layer_id=layer_id)
        self.g_proj = HeadBiasedGate(config.hidden_size, self.num_heads, self.head_dim)
        self.scales_queries = not self.rotary  # the scalable softmax on the NoPE layers alone


class BeamLayer(DecoderLayer):
    """Sandwich norms with depth-scaled residual adds (module doc)."""

    def __init__(self, config, options: BlockOptions, window: Optional[int] = None, local_rope: bool = False,
                 layer_id: int = 0) -> None:
        super().__init__(config, options, window, local_rope, layer_id)
        n = 2 * (layer_id + 1)  # the attention's residual add; the MLP's is n + 1
        self.post_attention_layernorm.output_scale = 1 / math.sqrt(n)
        self.post_feedforward_layernorm.output_scale = 1 / math.sqrt(n + 1)
        self.attn_residual_scale, self.mlp_residual_scale = math.sqrt((n - 1) / n), math.sqrt(n / (n + 1))

    def forward(self, hidden: torch.Tensor, residual: Optional[torch.Tensor], ctx, keep_rows=None):
        """-> (mlp_out, residual), each [T, H] ([R, H] for ``keep_rows``), their sum the layer's output."""
        x = hidden if residual is None else hidden + residual
        norm = self.input_layernorm
        attn = self.self_attn(ctx.ops.rms_norm(x, norm.weight, norm.eps), ctx, keep_rows)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        norm = self.post_attention_layernorm
        x = ctx.ops.rms_norm(attn, norm.weight, norm.eps) + x * self.attn_residual_scale
        norm = self.pre_feedforward_layernorm
        out = self.mlp(ctx.ops.rms_norm(x, norm.weight, norm.eps), ctx.ops)
        norm = self.post_feedforward_layernorm
        return ctx.ops.rms_norm(out, norm.weight, norm.eps), x * self.mlp_residual_scale


class BeamBody(DecoderModel):
    """``model.*``: DecoderModel with BeamLayers and the NoPE layers' query scale."""

    layer_class = BeamLayer

    def _query_scale(self, positions: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """positions [T] -> [T, 1, 1] (in float32, then cast)."""
        return torch.exp(0.1 * torch.log1p((positions.float() + 1) / _SCALABLE_SOFTMAX_LENGTH)).to(dtype)[:, None, None]


def beam_options(config) -> BlockOptions:
    return replace(qwen3_options(config), sandwich_norms=True, rotary_layer=sliding_layers_rotate, output_gate_per_dim=True,
                   attention_for_layer=lambda config, options, layer_id: BeamAttention(config, options, layer_id),
                   mlp_for_layer=deepseek_moe_mlp(sigmoid=True))


class _Beam:
    options_for = staticmethod(beam_options)
    weight_renames = {".self_attn.gate_proj.": ".self_attn.g_proj.", ".self_attn.gate_bias": ".self_attn.g_proj.head_bias"}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        params = hf_config.rope_parameters
        if params.get("full_attention") is not None:
            raise ValueError("Beam with a rotary on its full-attention layers is not supported (they take none)")
        hf_config.rope_parameters = dict(params["sliding_attention"])  # the one rotary, the sliding layers'
        hf_config.n_routed_experts, hf_config.n_shared_experts = hf_config.num_experts, 0  # DeepseekMoeBlock's names

    def make_body(self, config) -> nn.Module:
        return BeamBody(config, self.options_for(config))


class BeamForCausalLM(_Beam, DecoderForCausalLM):
    pass


class BeamForSequenceClassification(_Beam, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class BeamForTokenClassification(_Beam, DecoderForTokenClassification):
    pass


class BeamModel(_Beam, DecoderForEmbedding):
    pass
