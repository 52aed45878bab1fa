"""Laguna (``LagunaForCausalLM``, ``LagunaModel``, and our ``LagunaForSequenceClassification`` for
``classifier_from_token``).

Qwen3-MoE's pre-norm block with:
- attention output gates of softplus(g_proj(x)) in float32, one per head (``gating`` true / "per-head") or per
  dimension ("per-element"); a head count per layer (``num_attention_heads_per_layer``);
- sliding layers by ``layer_types``; a rotary per layer type with its own base and partial share;
- dense MLPs where ``mlp_layer_types`` says, elsewhere experts by a sigmoid router (float32 logits, optionally
  soft-capped by ``moe_router_logit_softcapping``; the choice adds ``e_score_correction_bias``; the top k
  renormalised), their sum times ``moe_routed_scaling_factor``, beside an ungated shared expert.

MIS is exact: gates and routing per token, windows and rotary by each item token's single-item position.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from multiscore.configs.attention_geometry import layer_windows
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
)
from multiscore.models.deepseek import is_sparse_layer
from multiscore.models.flint import SharedExpertMoeBlock, read_as_one_group_router
from multiscore.models.qwen3 import qwen3_options


def _attention(config, options: BlockOptions, layer_id: int) -> DecoderAttention:
    heads = config.num_attention_heads_per_layer[layer_id]
    own = config
    if heads != config.num_attention_heads:
        own = copy.copy(config)  # this layer's head count; keys and values as every layer's
        own.num_attention_heads = heads
    return DecoderAttention(own, options, layer_windows(config)[layer_id],
                            local_rope=config.layer_types[layer_id] == "sliding_attention", layer_id=layer_id)


def _mlp(config, options: BlockOptions, layer_id: int):
    if not is_sparse_layer(config, layer_id):
        return GatedMLP(config, options)
    block = SharedExpertMoeBlock(config, options, sigmoid=True, biased=True)
    block.gate.logit_softcap = float(config.moe_router_logit_softcapping or 0.0) or None
    return block


def laguna_options(config) -> BlockOptions:
    per_head = config.gating is True or config.gating == "per-head"
    return replace(qwen3_options(config), head_output_gate=per_head, output_gate_per_dim=not per_head,
                   output_gate_softplus=True, attention_for_layer=_attention, mlp_for_layer=_mlp)


class _Laguna:
    options_for = staticmethod(laguna_options)
    # The hub's names: the router's bias beside the experts, one shared expert.
    weight_renames = {".mlp.experts.e_score_correction_bias": ".mlp.gate.e_score_correction_bias",
                      ".mlp.shared_experts.": ".mlp.shared_expert."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.gating not in (True, "per-head", "per-element"):
            raise ValueError(f"Laguna with gating {hf_config.gating!r} is not supported (true, 'per-head', 'per-element')")
        if getattr(hf_config, "moe_apply_router_weight_on_input", False):
            raise ValueError("Laguna with moe_apply_router_weight_on_input is not supported (transformers has it not)")
        read_as_one_group_router(hf_config, float(hf_config.moe_routed_scaling_factor))
        hf_config.norm_topk_prob = True  # always renormalised


class LagunaForCausalLM(_Laguna, DecoderForCausalLM):
    pass


class LagunaForSequenceClassification(_Laguna, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class LagunaModel(_Laguna, DecoderForEmbedding):
    pass
