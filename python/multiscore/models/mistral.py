"""Mistral: Llama's block (no biases), every layer with the config's sliding window (if any): the
attention backend hides keys more than ``sliding_window - 1`` positions back, measured in each
item's single-item positions under MIS (layers/attention/torch_backend.py).

The same classes serve Ministral (2024: ``layer_types`` names its sliding layers) and Ministral 3
(yarn rotary, and Llama 4's query temperature past ``original_max_position_embeddings``, from its
``rope_parameters``), each under its own architecture names; and Mixtral (``Mixtral*``): every MLP a
sparse mixture of experts (``block_sparse_moe``: softmax router, top ``num_experts_per_tok``
renormalised; experts ``w1`` gate, ``w3`` up, ``w2`` down, as the hub stores them)."""

from dataclasses import replace

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)
from multiscore.models.sparse_moe import SparseMoeBlock


def mistral_options(config) -> BlockOptions:
    rope = getattr(config, "rope_parameters", None) or {}
    beta = rope.get("llama_4_scaling_beta")  # Ministral 3
    temperature = (float(beta), int(rope["original_max_position_embeddings"])) if beta else None
    return BlockOptions(mlp_act=mlp_activation(config), query_temperature=temperature)


class MistralForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(mistral_options)


class MistralForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(mistral_options)


class MistralForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(mistral_options)


class MistralModel(DecoderForEmbedding):
    options_for = staticmethod(mistral_options)


# Ministral (2024) and Ministral 3: the same block (see the module's docstring).
MinistralForCausalLM = Ministral3ForCausalLM = MistralForCausalLM
MinistralForSequenceClassification = Ministral3ForSequenceClassification = MistralForSequenceClassification
MinistralForTokenClassification = Ministral3ForTokenClassification = MistralForTokenClassification
MinistralModel = Ministral3Model = MistralModel


def mixtral_options(config) -> BlockOptions:
    return replace(mistral_options(config), mlp_for_layer=lambda config, options, layer_id: SparseMoeBlock(
        config, options, num_experts=config.num_local_experts, inner=config.intermediate_size))


# Mixtral's hub names -> ours (sparse_moe.py's, GatedMLP's through DECODER_PACKED_MODULES), in order
# (also MiniMax-M2's, models/minimax_m2.py).
MIXTRAL_HUB_NAMES = {"block_sparse_moe.": "mlp.", ".w1.": ".gate_proj.", ".w3.": ".up_proj.", ".w2.": ".down_proj."}


class _Mixtral:
    options_for = staticmethod(mixtral_options)
    weight_renames = MIXTRAL_HUB_NAMES


class MixtralForCausalLM(_Mixtral, DecoderForCausalLM):
    pass


class MixtralForSequenceClassification(_Mixtral, DecoderForSequenceClassification):
    pass


class MixtralForTokenClassification(_Mixtral, DecoderForTokenClassification):
    pass


class MixtralModel(_Mixtral, DecoderForEmbedding):
    pass
