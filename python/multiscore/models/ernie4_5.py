"""ERNIE 4.5 dense (baidu/ERNIE-4.5-0.3B-PT and its fine-tunes): Llama's block with biases as
``use_bias`` says and rotary over interleaved (2i, 2i + 1) pairs (served as the half rotary, each
head's q and k rows reordered as they load: ``BlockOptions.pair_rotary``). ``Ernie4_5ForCausalLM``,
``Ernie4_5Model``, and our ``Ernie4_5ForSequenceClassification`` for ``classifier_from_token``."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    mlp_activation,
)


def ernie4_5_options(config) -> BlockOptions:
    bias = bool(getattr(config, "use_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_bias=bias, pair_rotary=True, mlp_act=mlp_activation(config))


class Ernie4_5ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(ernie4_5_options)


class Ernie4_5ForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(ernie4_5_options)


class Ernie4_5Model(DecoderForEmbedding):
    options_for = staticmethod(ernie4_5_options)
