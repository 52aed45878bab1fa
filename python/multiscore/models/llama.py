from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def llama_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_bias=bool(getattr(config, "mlp_bias", False)),
                        mlp_act=mlp_activation(config))


class LlamaForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(llama_options)


class LlamaForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(llama_options)


class LlamaForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(llama_options)


class LlamaModel(DecoderForEmbedding):
    options_for = staticmethod(llama_options)
