"""Falcon-H1 (tiiuae/Falcon-H1-0.5B ... 34B, Falcon-H1R, Falcon-H1-Tiny): ``FalconH1ForCausalLM`` (read at
label tokens; or a classifier by ``classifier_from_token``: our ``FalconH1ForSequenceClassification``)
and ``FalconH1Model``.

Every layer runs a Mamba2 mixer and GQA attention side by side on the same normed input
(``input_layernorm``) and adds both to the residual, then a SwiGLU ``feed_forward`` behind
``pre_ff_layernorm``; ``final_layernorm`` at the end. μP multipliers everywhere, each computed where
transformers applies it: token embeddings × ``embedding_multiplier``; the mixer's input ×
``ssm_in_multiplier``, its [z | x | B | C | dt] projections × ``ssm_multipliers`` (mamba2.py), its output ×
``ssm_out_multiplier``; the attention's input × ``attention_in_multiplier``, its keys ×
``key_multiplier`` (a factor on the scores, so folded into their scale), its output ×
``attention_out_multiplier``; the MLP's gate × ``mlp_multipliers[0]`` before SiLU, its output ×
``mlp_multipliers[1]``; logits × ``lm_head_multiplier`` (served as the head's divisor,
``logits_scaling``). The mixer's gated RMSNorm is optional (``mamba_rms_norm``), before or after the gate
(``mamba_norm_before_gate``).

MIS is exact (each item's Mamba2 state and convolution tail start from its query's); the prefix cache and
embedding overrides are not served for it (they say why).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
)
from multiscore.models.gated_delta_net import (
    MambaHeads,
    RecurrentPlan,
    run_hybrid_layers,
)
from multiscore.models.mamba2 import Mamba2Mixer, Mamba2Shape


def falcon_h1_mamba_shape(config) -> Mamba2Shape:
    if config.mamba_d_ssm is not None and config.mamba_d_ssm != config.mamba_n_heads * config.mamba_d_head:
        raise ValueError(f"mamba_d_ssm {config.mamba_d_ssm} must be mamba_n_heads x mamba_d_head")
    norm = ("before_gate" if config.mamba_norm_before_gate else "after_gate") if config.mamba_rms_norm else None
    return Mamba2Shape(config.hidden_size, config.mamba_n_heads, config.mamba_d_head, config.mamba_n_groups,
                       config.mamba_d_state, config.mamba_d_conv, config.rms_norm_eps, bool(config.mamba_proj_bias),
                       bool(config.mamba_conv_bias), tuple(config.time_step_limit or (0.0, float("inf"))), norm=norm,
                       out_bias=bool(config.projectors_bias), input_multiplier=float(config.ssm_in_multiplier),
                       section_multipliers=tuple(config.ssm_multipliers))


class FalconH1MLP(nn.Module):
    """``feed_forward``: down(silu(gate(x) · m_gate) · up(x)) · m_down (gate and up fused)."""

    def __init__(self, config) -> None:
        super().__init__()
        size, bias = config.intermediate_size, bool(config.mlp_bias)
        self.gate_up_proj = FusedLinear(config.hidden_size, {0: size, 1: size}, bias=bias)
        self.down_proj = Linear(size, config.hidden_size, bias=bias)
        self.gate_multiplier, self.down_multiplier = (float(m) for m in config.mlp_multipliers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)  # [T, I] each
        return self.down_proj(F.silu(gate * self.gate_multiplier) * up) * self.down_multiplier


class FalconH1Layer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.rms_norm_eps
        self.mamba = Mamba2Mixer(falcon_h1_mamba_shape(config))
        # The keys' multiplier is a factor on every score: folded into the scale.
        scale = float(config.key_multiplier) * head_dim_of(config) ** -0.5
        options = BlockOptions(qkv_bias=bool(config.attention_bias), o_bias=bool(config.attention_bias), attn_scale=scale)
        self.self_attn = DecoderAttention(config, options, layer_id=layer_id)
        self.feed_forward = FalconH1MLP(config)
        self.input_layernorm = RMSNorm(H, eps)
        self.pre_ff_layernorm = RMSNorm(H, eps)
        self.attention_in, self.attention_out = float(config.attention_in_multiplier), float(config.attention_out_multiplier)
        self.ssm_out = float(config.ssm_out_multiplier)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        normed = ctx.ops.rms_norm(hidden, self.input_layernorm.weight, self.input_layernorm.eps)
        mixed = self.mamba(normed, plan) * self.ssm_out + self.self_attn(normed * self.attention_in, ctx) * self.attention_out
        hidden, normed = ctx.ops.add_rms_norm(mixed, hidden, self.pre_ff_layernorm.weight, self.pre_ff_layernorm.eps)
        return hidden + self.feed_forward(normed)


class FalconH1Body(nn.Module):
    """``model.*`` of a Falcon-H1 checkpoint."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(FalconH1Layer(config, i) for i in range(config.num_hidden_layers))
        self.final_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config))
        self.embedding_multiplier = float(config.embedding_multiplier)
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids) * self.embedding_multiplier  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, hidden.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        return run_hybrid_layers(self.layers, hidden, ctx, layouts, keep_rows, self.final_layernorm)


class _FalconH1(MambaHeads):
    make_body = staticmethod(FalconH1Body)
    family = "Falcon-H1"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """Logits times ``lm_head_multiplier``: the LM head's (and classifier_from_token's) divisor is its inverse."""
        hf_config.logits_scaling = 1.0 / float(hf_config.lm_head_multiplier)


class FalconH1ForCausalLM(_FalconH1, DecoderForCausalLM):
    pass


class FalconH1ForSequenceClassification(_FalconH1, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class FalconH1Model(_FalconH1, DecoderForEmbedding):
    pass
