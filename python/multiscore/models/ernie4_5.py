"""ERNIE 4.5 dense (baidu/ERNIE-4.5-0.3B-PT and its fine-tunes): Llama's block with biases as
``use_bias`` says and rotary over interleaved (2i, 2i + 1) pairs (served as the half rotary, each
head's q and k rows reordered as they load: ``BlockOptions.pair_rotary``). ``Ernie4_5ForCausalLM``,
``Ernie4_5Model``, and our ``Ernie4_5ForSequenceClassification`` for ``classifier_from_token``.

PaddleOCR-VL's language model (``paddleocr_vl_text``, on text; our ``PaddleOCRTextForCausalLM``): ERNIE 4.5's block
with the plain (half) rotary of the M-RoPE its attention applies, one rotary on text.

ERNIE 4.5 MoE (``ernie4_5_moe``: ERNIE-4.5-21B-A3B, -300B-A47B): the same blocks, and from
``moe_layer_start_index`` to ``moe_layer_end_index``, every ``moe_layer_interval``-th layer's MLP a
mixture of experts (``ErnieMoeBlock``)."""

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
    mlp_activation,
)
from multiscore.models.experts import mix_experts


def ernie4_5_options(config) -> BlockOptions:
    bias = bool(getattr(config, "use_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_bias=bias, pair_rotary=True, mlp_act=mlp_activation(config))


class Ernie4_5ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(ernie4_5_options)


class Ernie4_5ForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(ernie4_5_options)


class Ernie4_5Model(DecoderForEmbedding):
    options_for = staticmethod(ernie4_5_options)


def paddleocr_text_options(config) -> BlockOptions:
    return replace(ernie4_5_options(config), pair_rotary=False)


class PaddleOCRTextForCausalLM(DecoderForCausalLM):
    """Ours (transformers serves it only inside PaddleOCRVLForConditionalGeneration)."""

    options_for = staticmethod(paddleocr_text_options)


class PaddleOCRTextForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(paddleocr_text_options)


class ErnieMoeBlock(nn.Module):
    """``mlp.gate`` (the router [E, H]), ``mlp.moe_statics.e_score_correction_bias`` [1, E],
    ``mlp.experts.{e}`` and ``mlp.shared_experts`` (gated MLPs). Routing in float32: a softmax over every
    expert; the top k chosen by that plus the correction bias, weighted by the plain softmax renormalised
    (its sum clamped at ``moe_norm_min``); the shared experts added on every token."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        E, inner = config.moe_num_experts, config.moe_intermediate_size
        self.top_k, self.norm_min = config.moe_k, float(config.moe_norm_min)
        # A plain nn.Linear: its weight is read as is, in float32 (a packed Linear frees its dense weight).
        self.gate = nn.Linear(config.hidden_size, E, bias=False)
        self.moe_statics = nn.Module()
        self.moe_statics.e_score_correction_bias = nn.Parameter(torch.zeros(1, E))
        self.experts = nn.ModuleList(GatedMLP(config, options, inner) for _ in range(E))
        shared = config.moe_num_shared_experts
        self.shared_experts = GatedMLP(config, options, inner * shared) if shared else None

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        probs = torch.softmax(F.linear(x.float(), self.gate.weight.float()), dim=-1)  # [T, E]
        experts = torch.topk(probs + self.moe_statics.e_score_correction_bias.float()[0], self.top_k, dim=-1).indices
        weights = probs.gather(1, experts)
        weights = weights / weights.sum(-1, keepdim=True).clamp(min=self.norm_min)
        out = mix_experts(x, weights.to(x.dtype), experts, lambda expert, rows: self.experts[expert](rows, ops))
        return out if self.shared_experts is None else out + self.shared_experts(x, ops)


def _is_moe_layer(config, layer_id: int) -> bool:
    end = config.moe_layer_end_index
    end = config.num_hidden_layers - 1 if end is None or end < 0 else end
    return (layer_id + 1) % config.moe_layer_interval == 0 and config.moe_layer_start_index <= layer_id <= end


def ernie4_5_moe_options(config) -> BlockOptions:
    return replace(ernie4_5_options(config), mlp_for_layer=lambda config, options, layer_id: (
        ErnieMoeBlock(config, options) if _is_moe_layer(config, layer_id) else GatedMLP(config, options)))


class Ernie4_5_MoeForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(ernie4_5_moe_options)


class Ernie4_5_MoeForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(ernie4_5_moe_options)


class Ernie4_5_MoeModel(DecoderForEmbedding):
    options_for = staticmethod(ernie4_5_moe_options)
