"""SmolLM3 (HuggingFaceTB/SmolLM3-3B and its fine-tunes): Llama's block, every ``no_rope_layer_interval``-th
layer without rotary (``no_rope_layers[i]`` 0: a NoPE layer, q·k blind to positions), biases as
``attention_bias`` / ``mlp_bias`` say, and sliding windows only with ``use_sliding_window``."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def smollm3_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_bias=bool(getattr(config, "mlp_bias", False)),
                        mlp_act=mlp_activation(config),
                        rotary_layer=lambda config, layer_id: bool(config.no_rope_layers[layer_id]))


class _SmolLM3:
    options_for = staticmethod(smollm3_options)


class SmolLM3ForCausalLM(_SmolLM3, DecoderForCausalLM):
    pass


class SmolLM3ForSequenceClassification(_SmolLM3, DecoderForSequenceClassification):
    pass


class SmolLM3ForTokenClassification(_SmolLM3, DecoderForTokenClassification):
    pass


class SmolLM3Model(_SmolLM3, DecoderForEmbedding):
    pass
