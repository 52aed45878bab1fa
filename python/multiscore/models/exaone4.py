"""EXAONE 4.0 (LGAI-EXAONE/EXAONE-4.0-1.2B, -32B): OLMo 2's block layout (norms on the attention and
MLP outputs only) with Qwen3's per-head q/k norms; ``layer_types`` alternate sliding layers (rotary)
with global ones that take no rotary at all (NoPE), when the config has a ``sliding_window``."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
    sliding_layers_rotate,
)


def exaone4_options(config) -> BlockOptions:
    return BlockOptions(qk_norm=True, post_norms_only=True, mlp_act=mlp_activation(config),
                        rotary_layer=sliding_layers_rotate if getattr(config, "sliding_window", None) is not None else None)



class _Exaone4:
    options_for = staticmethod(exaone4_options)


class Exaone4ForCausalLM(_Exaone4, DecoderForCausalLM):
    pass


class Exaone4ForSequenceClassification(_Exaone4, DecoderForSequenceClassification):
    pass


class Exaone4ForTokenClassification(_Exaone4, DecoderForTokenClassification):
    pass


class Exaone4Model(_Exaone4, DecoderForEmbedding):
    pass
