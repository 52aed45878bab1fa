"""StableLM (stabilityai/stablelm-2-1_6b, stablelm-3b-4e1t, ``stablelm``): Llama's attention (q/k/v biased by
``use_qkv_bias``) with rotary on the first ``partial_rotary_factor`` of each head (a quarter), a gated SiLU
MLP, and biased LayerNorms: before the attention and the MLP in turn, or with ``use_parallel_residual`` one
LayerNorm feeding both (cohere.py's ``ParallelLayer``); a final LayerNorm. ``qk_layernorm`` (per-head
LayerNorms, stablelm-2-12b) is refused with the reason."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.models.cohere import ParallelBody, ParallelLayer
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    ForwardContext,
    GatedMLP,
    mlp_activation,
)


class SequentialLayer(nn.Module):
    """x + attn(ln1(x)), then that + mlp(ln2(that)), with LayerNorms (``input_layernorm``,
    ``post_attention_layernorm``)."""

    def __init__(self, config, attention: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn, self.mlp = attention, mlp

    def forward(self, x: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        x = x + self.self_attn(self.input_layernorm(x), ctx)
        return x + self.mlp(self.post_attention_layernorm(x), ctx.ops)


def stablelm_options(config) -> BlockOptions:
    if getattr(config, "qk_layernorm", False):
        raise ValueError("qk_layernorm (a LayerNorm per head of q and k, stablelm-2-12b's) is not supported")
    return BlockOptions(qkv_bias=bool(getattr(config, "use_qkv_bias", False)), mlp_act=mlp_activation(config))


def stablelm_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    options = stablelm_options(config)
    attention = DecoderAttention(config, options, window, layer_id=layer_id)
    if getattr(config, "use_parallel_residual", False):
        return ParallelLayer(nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps), attention, GatedMLP(config, options))
    return SequentialLayer(config, attention, GatedMLP(config, options))


class _StableLm:
    options_for = staticmethod(stablelm_options)

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, stablelm_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps))


class StableLmForCausalLM(_StableLm, DecoderForCausalLM):
    pass


class StableLmForSequenceClassification(_StableLm, DecoderForSequenceClassification):
    pass


class StableLmForTokenClassification(_StableLm, DecoderForTokenClassification):
    pass


class StableLmModel(_StableLm, DecoderForEmbedding):
    pass
