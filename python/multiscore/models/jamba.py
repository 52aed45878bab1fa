"""Jamba (AI21's Jamba 1.5 / 1.6 / 1.7, Jamba Reasoning, and reward models such as
ai21labs/Jamba-tiny-reward-dev): ``JambaForSequenceClassification`` (vLLM lists it among its reward
models), ``JambaForCausalLM`` (read at label tokens; or a classifier by ``classifier_from_token``) and
``JambaModel``.

Per layer (``layer_types``: attention every ``attn_layer_period`` from ``attn_layer_offset``,
Mamba otherwise), RMSNorm before each part (``input_layernorm``, ``pre_ff_layernorm``):
- Mamba (v1) layers (mamba1.py: a per-channel selective scan, with RMSNorms on its dt, B and C);
- attention layers: GQA with no position encoding at all (the Mamba layers carry order);
then a SwiGLU MLP (``feed_forward.*``), or on the expert layers (``layers_num_experts`` > 1: every
``expert_layer_period`` from ``expert_layer_offset``) a mixture of experts: ``feed_forward.router``
picks the top k of a softmax over every expert, their weights left unnormalised.
A final ``final_layernorm``.

MIS is exact (Mamba layers start each item from its query's state and convolution tail); the prefix
cache and embedding overrides are not served for it (they say why).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    GatedMLP,
    mlp_activation,
)
from multiscore.models.gated_delta_net import (
    MambaHeads,
    RecurrentPlan,
    run_hybrid_layers,
)
from multiscore.models.mamba1 import Mamba1Mixer, Mamba1Shape
from multiscore.models.sparse_moe import SparseMoeBlock


class JambaLayer(nn.Module):
    """A Mamba or attention layer (``layer_types``), then its MLP or experts; Bamba's too (bamba.py),
    whose Mamba layers are Mamba2's and whose attention rotates (``make_mamba``, ``rotary``)."""

    rotary = False  # Jamba's attention takes no positions

    @staticmethod
    def make_mamba(config) -> nn.Module:
        return Mamba1Mixer(Mamba1Shape.of_jamba(config))

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.rms_norm_eps
        self.is_mamba = config.layer_types[layer_id] == "linear_attention"
        options = BlockOptions(mlp_act=mlp_activation(config), rotary_layer=None if self.rotary else _no_rotary)
        if self.is_mamba:
            self.mamba = self.make_mamba(config)
        else:
            self.self_attn = DecoderAttention(config, options, layer_id=layer_id)
        self.input_layernorm = RMSNorm(H, eps)
        self.pre_ff_layernorm = RMSNorm(H, eps)
        experts = (getattr(config, "layers_num_experts", None) or [1] * config.num_hidden_layers)[layer_id]
        if experts > 1:
            self.mlp = SparseMoeBlock(config, options, num_experts=experts, inner=config.intermediate_size)
        else:
            self.mlp = GatedMLP(config, options)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        normed = ctx.ops.rms_norm(hidden, self.input_layernorm.weight, self.input_layernorm.eps)
        mixed = self.mamba(normed, plan) if self.is_mamba else self.self_attn(normed, ctx)
        hidden, normed = ctx.ops.add_rms_norm(mixed, hidden, self.pre_ff_layernorm.weight, self.pre_ff_layernorm.eps)
        return hidden + self.mlp(normed, ctx.ops)


def _no_rotary(config, layer_id: int) -> bool:
    return False


class JambaBody(nn.Module):
    """``model.*`` of a Jamba checkpoint (of a Bamba one with ``layer_class`` BambaLayer)."""

    layer_class = JambaLayer

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(self.layer_class(config, i) for i in range(config.num_hidden_layers))
        self.final_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config)) if self.layer_class.rotary else None
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)  # [T, H]
        cos, sin = (None, None) if self.rotary_emb is None else self.rotary_emb.cos_sin(positions, hidden.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        return run_hybrid_layers(self.layers, hidden, ctx, layouts, keep_rows, self.final_layernorm)


class JambaHeads(MambaHeads):
    make_body = staticmethod(JambaBody)
    family = "Jamba"
    # The hub's names -> ours (SparseMoeBlock's router is ``gate``; GatedMLP's through
    # DECODER_PACKED_MODULES), in order.
    weight_renames = {"feed_forward.router.": "mlp.gate.", "feed_forward.": "mlp."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """Jamba's router keeps the top-k softmax weights as they are (SparseMoeBlock renormalises by default)."""
        hf_config.norm_topk_prob = False


class JambaForCausalLM(JambaHeads, DecoderForCausalLM):
    pass


class JambaForSequenceClassification(JambaHeads, DecoderForSequenceClassification):
    pass


class JambaModel(JambaHeads, DecoderForEmbedding):
    pass
