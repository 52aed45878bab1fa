from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def qwen3_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, qk_norm=True, mlp_act=mlp_activation(config))


class Qwen3ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(qwen3_options)


class Qwen3ForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(qwen3_options)


class Qwen3ForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(qwen3_options)


class Qwen3Model(DecoderForEmbedding):
    options_for = staticmethod(qwen3_options)
