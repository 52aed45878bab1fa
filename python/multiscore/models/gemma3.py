"""Gemma3 (text): Gemma2's block (scaled embeddings, 1 + w norms, sandwich norms, GELU-tanh MLP,
``query_pre_attn_scalar``, optional soft-capping) plus a 1 + w RMSNorm over each head of q and k,
and separate rotary bases for global and sliding layers (``rope_parameters`` per layer type,
decoder.py). Five of every six layers slide (``layer_types``).

``Gemma3TextModel`` with ``use_bidirectional_attention`` (EmbeddingGemma) is an encoder: every
token sees every other, and a sliding layer sees the keys less than ``sliding_window`` positions
away on either side (the torch backend's bidirectional window)."""

from dataclasses import replace

from multiscore.configs.model_kind import ModelKind
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.gemma2 import gemma2_options


def gemma3_options(config, bidirectional_ok: bool = False) -> BlockOptions:
    return replace(gemma2_options(config, bidirectional_ok), qk_norm=True)


def _bidirectional(config) -> bool:
    return bool(getattr(config, "use_bidirectional_attention", False))


class Gemma3ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(gemma3_options)


class Gemma3TextForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(gemma3_options)


class Gemma3TextModel(DecoderForEmbedding):
    """The bare decoder as an embedder; bidirectional (an encoder) when its config says so."""

    options_for = staticmethod(lambda config: gemma3_options(config, bidirectional_ok=True))

    @classmethod
    def kind_for(cls, hf_config) -> ModelKind:
        return ModelKind.ENCODER_EMBEDDING if _bidirectional(hf_config) else super().kind_for(hf_config)
