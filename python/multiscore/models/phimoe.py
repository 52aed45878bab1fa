"""Phi-3.5-MoE and Phi-tiny-MoE (``phimoe``): ``PhimoeForCausalLM`` (read at label tokens; its LM head
biased by ``lm_head_bias``), ``PhimoeForSequenceClassification``, ``PhimoeModel``.

Mixtral's block (GQA attention, biased by ``attention_bias``; every MLP a mixture of experts under the hub's
``block_sparse_moe.experts.{e}.w1/w3/w2`` names) with biased LayerNorms (eps ``rms_norm_eps``) where Mixtral
has RMSNorms, and SparseMixer's routing at inference: the best expert, weighted by the softmax over the
experts whose logit is within 2·``router_jitter_noise`` (relative) of it; then the best of the rest, weighted
the same way among the rest. The weights are not renormalised.

The rotary (LongRoPE in the published models) is scaled by ``short_mscale`` where transformers' rope
initialiser would scale it by its own factor: up to ``original_max_position_embeddings``, where the context
stops (attention_geometry.static_rope_range); past it the model trades its short factors and scale for long ones.

MIS is exact: routing is per token.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.fused_ops import FusedOps
from multiscore.layers.rotary import RotaryEmbedding, rope_parameters
from multiscore.models.cohere import ParallelBody
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.experts import mix_experts
from multiscore.models.layernorm_decoders import SequentialLayer
from multiscore.models.mistral import MIXTRAL_HUB_NAMES
from multiscore.models.phi import BiasedLmHeadCausalLM
from multiscore.models.sparse_moe import SparseMoeBlock


def _gate_at(candidates: torch.Tensor, logits: torch.Tensor, chosen: torch.Tensor, jitter_eps: float) -> torch.Tensor:
    """SparseMixer's weight of expert ``chosen`` [T, 1], the best of ``candidates`` [T, E] (the logits with
    the experts already taken at -inf): its softmax among the candidates within 2·eps of it, relative to
    max(|logit|, its logit)."""
    best = candidates.gather(-1, chosen)  # [T, 1]
    hidden = ((best - logits) / logits.abs().clamp(min=best)) > (2 * jitter_eps)  # [T, E]
    return torch.softmax(candidates.masked_fill(hidden, float("-inf")), dim=-1).gather(-1, chosen)


def sparsemixer_top2(logits: torch.Tensor, jitter_eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Router logits [T, E] -> (weights, experts), each [T, 2]: SparseMixer at inference (transformers'
    ``sparsemixer`` with ``training`` false)."""
    first = logits.argmax(dim=-1, keepdim=True)  # [T, 1]
    rest = logits.scatter(-1, first, float("-inf"))
    second = rest.argmax(dim=-1, keepdim=True)
    weights = torch.cat([_gate_at(logits, logits, first, jitter_eps), _gate_at(rest, logits, second, jitter_eps)], -1)
    return weights, torch.cat([first, second], dim=-1)


class PhimoeMoeBlock(SparseMoeBlock):
    """Mixtral's ``gate`` and ``experts``, routed by SparseMixer."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__(config, options, num_experts=config.num_local_experts, inner=config.intermediate_size)
        self.jitter_eps = float(config.router_jitter_noise)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = sparsemixer_top2(self.gate(x), self.jitter_eps)
        return mix_experts(x, weights.to(x.dtype), experts, lambda expert, rows: self.experts[expert](rows, ops))


def phimoe_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias)


def phimoe_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    options = phimoe_options(config)
    attention = DecoderAttention(config, options, window, layer_id=layer_id)
    make_norm = lambda: nn.LayerNorm(config.hidden_size, eps=config.rms_norm_eps)  # noqa: E731
    return SequentialLayer(make_norm, attention, PhimoeMoeBlock(config, options))


class PhimoeBody(ParallelBody):
    @staticmethod
    def make_rotary(config):
        rotary = RotaryEmbedding(config, head_dim_of(config))
        params = rope_parameters(config)
        if params.get("rope_type", "default") != "default":  # the short scale, below the long factors' range
            rotary.attention_scaling = float(params["short_mscale"])
        return rotary


class _Phimoe:
    options_for = staticmethod(phimoe_options)
    weight_renames = MIXTRAL_HUB_NAMES

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.num_experts_per_tok != 2:
            raise ValueError(f"Phimoe with num_experts_per_tok {hf_config.num_experts_per_tok} is not supported: "
                             "SparseMixer routes each token to two experts")

    def make_body(self, config) -> nn.Module:
        return PhimoeBody(config, phimoe_layer, nn.LayerNorm(config.hidden_size, eps=config.rms_norm_eps))


class PhimoeForCausalLM(_Phimoe, BiasedLmHeadCausalLM):
    lm_biased = staticmethod(lambda config: bool(getattr(config, "lm_head_bias", False)))


class PhimoeForSequenceClassification(_Phimoe, DecoderForSequenceClassification):
    pass


class PhimoeModel(_Phimoe, DecoderForEmbedding):
    pass
