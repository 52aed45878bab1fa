"""OLMo 2 and OLMo 3 (allenai/OLMo-2-*, Olmo-3-*, their reward models such as OLMo-2-1124-7B-RM):
Llama's attention and MLP with the norms moved to their outputs (no norm before either; each output
normed before its residual add: ``post_attention_layernorm``, ``post_feedforward_layernorm``), and
one RMSNorm over all of q's heads (and k's) before rotary. OLMo 3 adds sliding layers
(``layer_types``) whose rotary has its own parameters (``rope_parameters`` keyed by layer type).

OLMoE (allenai/OLMoE-1B-7B, ``olmoe``): Llama's pre-norm block with OLMo 2's norm over all of q's heads
(and k's), every MLP a mixture of ``num_experts`` experts of ``intermediate_size`` (models/sparse_moe.py:
a float32 softmax router, the top k renormalised only with ``norm_topk_prob``); q, k and v clamped to
±``clip_qkv`` (after the q/k norms) where set.

FlexOlmo (allenai/FlexOlmo-*, ``flex_olmo``): OLMo 2's block with OLMoE's experts."""

from dataclasses import replace

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    mlp_activation,
)
from multiscore.models.sparse_moe import SparseMoeBlock


def olmo2_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, qk_norm_across_heads=True, post_norms_only=True,
                        mlp_act=mlp_activation(config))


class Olmo2ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(olmo2_options)


class Olmo2ForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(olmo2_options)


class Olmo2Model(DecoderForEmbedding):
    options_for = staticmethod(olmo2_options)


# OLMo 3: the same block; its sliding layers and per-type rotary come from the config (DecoderModel).
Olmo3ForCausalLM, Olmo3ForSequenceClassification, Olmo3Model = Olmo2ForCausalLM, Olmo2ForSequenceClassification, Olmo2Model


def _olmoe_experts(config, options: BlockOptions, layer_id: int) -> SparseMoeBlock:
    return SparseMoeBlock(config, options, num_experts=config.num_experts, inner=config.intermediate_size)


def olmoe_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, qk_norm_across_heads=True, mlp_act=mlp_activation(config),
                        mlp_for_layer=_olmoe_experts, clip_qkv=getattr(config, "clip_qkv", None))


def flex_olmo_options(config) -> BlockOptions:
    return replace(olmo2_options(config), mlp_for_layer=_olmoe_experts)


class OlmoeForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(olmoe_options)


class OlmoeForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(olmoe_options)


class OlmoeModel(DecoderForEmbedding):
    options_for = staticmethod(olmoe_options)


class FlexOlmoForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(flex_olmo_options)


class FlexOlmoForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(flex_olmo_options)


class FlexOlmoModel(DecoderForEmbedding):
    options_for = staticmethod(flex_olmo_options)
