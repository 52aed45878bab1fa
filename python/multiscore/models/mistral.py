"""Mistral: Llama's block (no biases). Its sliding-window attention is not implemented: the context
length is capped at the window (configs/model_config.py), where the window excludes no key, so
scores stay exact; a longer request is refused with a 400."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    mlp_activation,
)


def mistral_options(config) -> BlockOptions:
    return BlockOptions(mlp_act=mlp_activation(config))


class MistralForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(mistral_options)


class MistralForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(mistral_options)


class MistralModel(DecoderForEmbedding):
    options_for = staticmethod(mistral_options)
