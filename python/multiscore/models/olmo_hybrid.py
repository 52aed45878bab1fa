"""OLMo Hybrid (allenai/Olmo-Hybrid-*): ``OlmoHybridForCausalLM``, ``OlmoHybridModel``, and our
``OlmoHybridForSequenceClassification`` (for ``classifier_from_token``).

Gated delta-net layers (Qwen3.5's, models/gated_delta_net.py; MIS by recurrent state) in Llama's pre-norm block,
and, where ``layer_types`` says ``full_attention``, OLMo 3's block (models/olmo2.py: norms after attention and the
MLP, one RMSNorm over all of q's heads and k's) without rotary unless ``rope_theta`` is set. The delta net:
separate ``q_proj`` / ``k_proj`` / ``v_proj`` (one product here), ``g_proj`` (the output gate), ``a_proj``,
``b_proj``, ``o_proj``; β = 2·σ(b) with ``linear_allow_neg_eigval``; its gated norm at eps 1e-5; its convolution
stored as ``q_conv1d`` / ``k_conv1d`` / ``v_conv1d``, read back to back as the one convolution they are.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    DECODER_PACKED_MODULES,
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderLayer,
    ForwardContext,
    GatedMLP,
    mlp_activation,
)
from multiscore.models.gated_delta_net import (
    PIECEWISE_CONV_PIECES,
    GatedDeltaNet,
    PiecewiseConv1d,
    RecurrentHeads,
    run_hybrid_layers,
)
from multiscore.models.olmo2 import olmo2_options

_GATED_NORM_EPS = 1e-5  # the delta net's output norm: transformers' fixed eps


class OlmoHybridDeltaNet(GatedDeltaNet):
    """``linear_attn.*``: Qwen3.5's delta net under OLMo Hybrid's names."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.conv1d = PiecewiseConv1d(2 * self.key_size + self.value_size, self.kernel)
        self.eps = _GATED_NORM_EPS
        self.beta_scale = 2.0 if getattr(config, "linear_allow_neg_eigval", False) else 1.0

    def make_projections(self, config) -> None:
        H = config.hidden_size
        self.qkv_proj = FusedLinear(H, {"q": self.key_size, "k": self.key_size, "v": self.value_size}, bias=False)
        self.g_proj = Linear(H, self.value_size, bias=False)
        self.b_proj, self.a_proj = Linear(H, self.v_heads, bias=False), Linear(H, self.v_heads, bias=False)

    def project(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.qkv_proj(hidden), self.g_proj(hidden), self.b_proj(hidden), self.a_proj(hidden)


class LinearAttentionLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.linear_attn = OlmoHybridDeltaNet(config)
        self.mlp = GatedMLP(config, BlockOptions(mlp_act=mlp_activation(config)))
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan) -> torch.Tensor:
        norm = self.input_layernorm
        mixed = self.linear_attn(ctx.ops.rms_norm(hidden, norm.weight, norm.eps), plan)
        norm = self.post_attention_layernorm
        hidden, normed = ctx.ops.add_rms_norm(mixed, hidden, norm.weight, norm.eps)
        return hidden + self.mlp(normed, ctx.ops)


class AttentionLayer(DecoderLayer):
    """OLMo 3's block, called as the hybrid layers are."""

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan=None) -> torch.Tensor:
        mlp, residual = super().forward(hidden, None, ctx)
        return mlp + residual


class OlmoHybridBody(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        rotates = config.rope_parameters.get("rope_theta") is not None
        options = replace(olmo2_options(config), rotary_layer=lambda config, layer_id: rotates)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            LinearAttentionLayer(config) if kind == "linear_attention" else AttentionLayer(config, options, layer_id=i)
            for i, kind in enumerate(config.layer_types))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, config.hidden_size // config.num_attention_heads) if rotates else None
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, hidden.dtype) if self.rotary_emb is not None else (None, None)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        return run_hybrid_layers(self.layers, hidden, ctx, layouts, keep_rows, self.norm)


class _OlmoHybrid(RecurrentHeads):
    make_body = staticmethod(OlmoHybridBody)
    family = "OLMo Hybrid"
    prefix_cache_problem = "its linear-attention layers keep a recurrent state, not per-token keys"
    embed_overrides_problem = "not implemented for its linear-attention layers (refused before any batch runs)"
    packed_modules_mapping = {**DECODER_PACKED_MODULES, **PIECEWISE_CONV_PIECES}
    # The published names (the norms' ones mean the pre-norm pair on linear layers, the output norms on attention
    # layers: the same two as ours), the delta net's output projection and gated norm.
    weight_renames = {"attention_layer_norm": "input_layernorm", "feedforward_layer_norm": "post_attention_layernorm",
                      ".linear_attn.o_proj.": ".linear_attn.out_proj.", ".linear_attn.o_norm.": ".linear_attn.norm."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "hidden_act", "silu") != "silu":
            raise ValueError(f"OLMo Hybrid with hidden_act {hf_config.hidden_act!r} is not supported (silu is)")


class OlmoHybridForCausalLM(_OlmoHybrid, DecoderForCausalLM):
    pass


class OlmoHybridForSequenceClassification(_OlmoHybrid, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class OlmoHybridModel(_OlmoHybrid, DecoderForEmbedding):
    pass
