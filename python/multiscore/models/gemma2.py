"""Gemma2: Gemma's block (scaled embeddings, 1 + w norms, GELU-tanh MLP) with attention and MLP
outputs normed before the residual add ("sandwich" norms), scores scaled by
``query_pre_attn_scalar ** -0.5`` and soft-capped (``attn_logit_softcapping``), and the LM head's
logits soft-capped (``final_logit_softcapping``); its ``sliding_attention`` layers see a window
of ``sliding_window`` positions (configs/model_config.layer_windows).
Gemma2-based rerankers (bge-reranker-v2.5-gemma2) and reward models (``ForSequenceClassification``)."""

from dataclasses import replace

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
)
from multiscore.models.gemma import gemma_options


def gemma2_options(config, bidirectional_ok: bool = False) -> BlockOptions:
    scalar = getattr(config, "query_pre_attn_scalar", None)
    return replace(gemma_options(config, bidirectional_ok), attn_scale=scalar**-0.5 if scalar else None,
                   attn_softcap=getattr(config, "attn_logit_softcapping", None), sandwich_norms=True)


class Gemma2ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(gemma2_options)


class Gemma2ForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(gemma2_options)


class Gemma2ForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(gemma2_options)


class Gemma2Model(DecoderForEmbedding):
    options_for = staticmethod(gemma2_options)
