"""Qwen2-MoE and Qwen3-MoE: Qwen2's and Qwen3's decoder blocks with a sparse mixture-of-experts MLP
(models/sparse_moe.py) in the layers the config makes sparse. Checkpoints name each expert's
``gate_proj`` / ``up_proj`` / ``down_proj`` (what the hub ships and transformers saves), which load
into each expert's fused gate/up as the dense MLP's do.

Qwen3-VL-MoE's language model (``Qwen3VLMoeTextFor*``, ours: served for Qwen3VLMoeForConditionalGeneration
on text, configs/checkpoint_layouts.py): Qwen3's blocks with its experts stored 3-D (``StackedMoeBlock``)."""

from dataclasses import replace

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)
from multiscore.models.qwen3 import qwen3_options
from multiscore.models.sparse_moe import moe_or_dense_mlp, stacked_moe_or_dense_mlp


def qwen2_moe_options(config) -> BlockOptions:
    return BlockOptions(qkv_bias=bool(getattr(config, "qkv_bias", True)), mlp_act=mlp_activation(config),
                        mlp_for_layer=moe_or_dense_mlp)


def qwen3_moe_options(config) -> BlockOptions:
    return replace(qwen3_options(config), mlp_for_layer=moe_or_dense_mlp)


def qwen3_vl_moe_options(config) -> BlockOptions:
    return replace(qwen3_options(config), mlp_for_layer=stacked_moe_or_dense_mlp)


class Qwen2MoeForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(qwen2_moe_options)


class Qwen2MoeForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(qwen2_moe_options)


class Qwen2MoeForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(qwen2_moe_options)


class Qwen2MoeModel(DecoderForEmbedding):
    options_for = staticmethod(qwen2_moe_options)


class Qwen3MoeForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(qwen3_moe_options)


class Qwen3MoeForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(qwen3_moe_options)


class Qwen3MoeForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(qwen3_moe_options)


class Qwen3MoeModel(DecoderForEmbedding):
    options_for = staticmethod(qwen3_moe_options)


class Qwen3VLMoeTextForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(qwen3_vl_moe_options)


class Qwen3VLMoeTextForSequenceClassification(DecoderForSequenceClassification):
    """Ours: what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(qwen3_vl_moe_options)


class Qwen3VLMoeTextModel(DecoderForEmbedding):
    options_for = staticmethod(qwen3_vl_moe_options)


class MellumForCausalLM(DecoderForCausalLM):
    """JetBrains Mellum 2: Qwen3-MoE's blocks, sliding layers by ``layer_types`` rotating with their own base
    (``rope_parameters`` per layer type), dense MLPs where ``mlp_layer_types`` says; its MTP layer not read."""

    options_for = staticmethod(qwen3_moe_options)


class MellumForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(qwen3_moe_options)


class MellumModel(DecoderForEmbedding):
    options_for = staticmethod(qwen3_moe_options)
