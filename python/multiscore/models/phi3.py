"""Phi3 (Phi-3, Phi-3.5, Phi-4-mini): Llama's block with q/k/v and gate/up already fused in the
checkpoint (``qkv_proj``, ``gate_up_proj``: loaded whole into our fused layers, same row order),
a partial rotary on Phi-4-mini (``partial_rotary_factor``, layers/rotary.py) and, on Phi-3, a
sliding window on every layer. LongRoPE checkpoints (Phi-3.5-mini, Phi-4-mini, the 128k Phi-3s) rotate with
their short factors, up to ``original_max_position_embeddings``, where the context stops (layers/rotary.py)."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def phi3_options(config) -> BlockOptions:
    return BlockOptions(mlp_act=mlp_activation(config))


class Phi3ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(phi3_options)


class Phi3ForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(phi3_options)


class Phi3ForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(phi3_options)


class Phi3Model(DecoderForEmbedding):
    options_for = staticmethod(phi3_options)
