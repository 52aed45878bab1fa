"""Gemma (1): a Llama-shaped decoder with token embeddings scaled by sqrt(hidden), RMSNorms that scale
by ``1 + w``, and a GELU-tanh gated MLP (bge-reranker-v2-gemma is a ``GemmaForCausalLM``)."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def gemma_options(config, bidirectional_ok: bool = False) -> BlockOptions:
    """``bidirectional_ok``: the caller serves ``use_bidirectional_attention`` as an encoder (EmbeddingGemma)."""
    if getattr(config, "use_bidirectional_attention", None) and not bidirectional_ok:
        raise ValueError(f"{type(config).__name__} with use_bidirectional_attention is not supported (causal attention only)")
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_act=mlp_activation(config),
                        embed_scale=config.hidden_size**0.5, norm_offset=1.0)


class GemmaForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(gemma_options)


class GemmaForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(gemma_options)


class GemmaForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(gemma_options)


class GemmaModel(DecoderForEmbedding):
    options_for = staticmethod(gemma_options)
