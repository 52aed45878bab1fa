"""Cohere's Command R / Aya (``cohere``: CohereForAI/aya-expanse-8b, aya-23, c4ai-command-r) and
Command R7B (``cohere2``): ``*ForCausalLM`` (read at label tokens), ``*Model``, and our
``*ForSequenceClassification`` for ``classifier_from_token``.

A parallel block: one LayerNorm (no bias) feeds both attention and the SwiGLU MLP, whose outputs are
added to the input together. Rotary over interleaved (2i, 2i + 1) pairs, served as the half rotary
with each head's q and k rows reordered as they load (``BlockOptions.pair_rotary``). Logits are
multiplied by ``logit_scale`` (read as Granite's ``logits_scaling`` = 1 / logit_scale, so the LM
head's conversion to a classifier scales the same). Command R7B: ``layer_types`` alternate sliding
layers (rotary) with global ones that take no rotary (NoPE). Per-head q/k LayerNorms
(``use_qk_norm``, Command R+) are refused with the reason.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of, layer_windows
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    GatedMLP,
    sliding_layers_rotate,
    with_embed_overrides,
)


def cohere_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    nope = getattr(config, "layer_types", None) and getattr(config, "sliding_window", None)  # Command R7B
    return BlockOptions(qkv_bias=bias, o_bias=bias, pair_rotary=True, rotary_layer=sliding_layers_rotate if nope else None)


class ParallelLayer(nn.Module):
    """A parallel block: one LayerNorm (``input_layernorm``) feeds both ``self_attn`` and ``mlp``,
    whose outputs are added to the input together (Cohere's, Phi's)."""

    def __init__(self, norm: nn.Module, attention: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.input_layernorm, self.self_attn, self.mlp = norm, attention, mlp

    def forward(self, x: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """x [T, H] -> x + attn(ln(x)) + mlp(ln(x))."""
        normed = self.input_layernorm(x)
        return x + self.self_attn(normed, ctx) + self.mlp(normed, ctx.ops)


class ParallelBody(nn.Module):
    """``model.*``: ``embed_tokens``, ``layers.N`` (``make_layer(config, window, layer_id)``), a final LayerNorm
    (named ``norm_name``: Cohere's ``norm``, Phi's ``final_layernorm``)."""

    def __init__(self, config, make_layer, final_norm: nn.Module, norm_name: str = "norm") -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(make_layer(config, window, i) for i, window in enumerate(layer_windows(config)))
        self.norm_name = norm_name
        setattr(self, norm_name, final_norm)
        self.rotary_emb = self.make_rotary(config)
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops)

    @staticmethod
    def make_rotary(config):
        return RotaryEmbedding(config, head_dim_of(config))

    def rotary_tables(self, positions: torch.Tensor, dtype: torch.dtype) -> dict:
        """ForwardContext's rotary fields at ``positions`` [T]."""
        cos, sin = self.rotary_emb.cos_sin(positions, dtype)
        return {"cos": cos, "sin": sin}

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None)."""
        x = with_embed_overrides(self.embed_tokens(input_ids), embed_overrides)  # [T, H]
        ctx = ForwardContext(attention=attention, ops=self.ops, **self.rotary_tables(positions, x.dtype))
        for layer in self.layers:
            x = layer(x, ctx)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        return getattr(self, self.norm_name)(x)


def cohere_layer(config, window: Optional[int], layer_id: int, options: Optional[BlockOptions] = None,
                 local_rope: bool = False) -> ParallelLayer:
    """``options``: None for Cohere's own (cohere_compass.py passes its own, and ``local_rope`` for its sliding layers)."""
    options = options or cohere_options(config)
    norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=False)
    attention = DecoderAttention(config, options, window, local_rope=local_rope, layer_id=layer_id)
    return ParallelLayer(norm, attention, GatedMLP(config, options))


def cohere_body(config) -> ParallelBody:
    return ParallelBody(config, cohere_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=False))


class _Cohere:
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "use_qk_norm", False):
            raise ValueError("Cohere checkpoints with use_qk_norm (per-head q/k LayerNorms, Command R+) are not supported")
        hf_config.logits_scaling = 1.0 / float(getattr(hf_config, "logit_scale", 1.0) or 1.0)

    def make_body(self, config) -> nn.Module:
        return cohere_body(config)


class CohereForCausalLM(_Cohere, DecoderForCausalLM):
    pass


class CohereForSequenceClassification(_Cohere, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class CohereModel(_Cohere, DecoderForEmbedding):
    pass


# Command R7B: the same classes (its sliding layers and NoPE global ones come from the config).
Cohere2ForCausalLM, Cohere2ForSequenceClassification, Cohere2Model = CohereForCausalLM, CohereForSequenceClassification, CohereModel
