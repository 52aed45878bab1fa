"""Mistral: Llama's block (no biases), every layer with the config's sliding window (if any): the
attention backend hides keys more than ``sliding_window - 1`` positions back, measured in each
item's single-item positions under MIS (layers/attention/torch_backend.py)."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def mistral_options(config) -> BlockOptions:
    return BlockOptions(mlp_act=mlp_activation(config))


class MistralForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(mistral_options)


class MistralForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(mistral_options)


class MistralForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(mistral_options)


class MistralModel(DecoderForEmbedding):
    options_for = staticmethod(mistral_options)
