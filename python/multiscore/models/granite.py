"""Granite (IBM; Granite Guardian risk classifiers read at their "Yes"/"No" tokens): Llama's block
with four multipliers from its config: token embeddings times ``embedding_multiplier``, attention
scores scaled by ``attention_multiplier`` (not head_dim ** -0.5), attention and MLP outputs times
``residual_multiplier`` before each residual add (folded into o_proj and down_proj as they load), and the LM head's logits divided by
``logits_scaling`` (decoder.DecoderForCausalLM; the classifier_from_token conversion divides too)."""

from dataclasses import replace

from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.llama import llama_options


def granite_options(config):
    return replace(llama_options(config), embed_scale=float(config.embedding_multiplier),
                   attn_scale=float(config.attention_multiplier), residual_multiplier=float(config.residual_multiplier))


class GraniteForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(granite_options)


class GraniteForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(granite_options)


class GraniteModel(DecoderForEmbedding):
    options_for = staticmethod(granite_options)
