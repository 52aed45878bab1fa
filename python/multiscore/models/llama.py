"""Llama (and the checkpoints that are Llama's block under another name). Meta's Code World Model (``cwm``,
facebook/cwm) is Llama's block with sliding layers by ``layer_types`` (three in four), served by the
decoder's sliding windows: ``CwmForCausalLM``, ``CwmModel`` and our ``CwmForSequenceClassification``."""

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


# Code World Model: Llama's block; its sliding layers come from the config (DecoderModel's windows).
CwmForCausalLM, CwmForSequenceClassification, CwmModel = LlamaForCausalLM, LlamaForSequenceClassification, LlamaModel
# Emu3's text model (BAAI/Emu3-*'s language model alone): Llama's block (a dropout more, none at inference).
Emu3ForCausalLM = LlamaForCausalLM
