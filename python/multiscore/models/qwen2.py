from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def qwen2_options(config) -> BlockOptions:
    return BlockOptions(qkv_bias=True, mlp_act=mlp_activation(config))  # Qwen2: bias on q/k/v only


class Qwen2ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(qwen2_options)


class Qwen2ForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(qwen2_options)


class Qwen2ForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(qwen2_options)


class Qwen2Model(DecoderForEmbedding):
    options_for = staticmethod(qwen2_options)
