"""MiniCPM3 (openbmb/MiniCPM3-4B; transformers' ``minicpm3``): MiniCPM's multipliers (models/minicpm.py) on
layers whose attention is multi-head latent attention (MLA, DeepSeek-V2's: models/latent_attention.py),
with the plain (half) rotary."""

from __future__ import annotations

from dataclasses import replace

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.latent_attention import LatentAttention, LatentAttentionModel
from multiscore.models.minicpm import minicpm_options


def minicpm3_options(config) -> BlockOptions:
    return replace(minicpm_options(config), attention_for_layer=lambda config, options, layer_id: LatentAttention(
        config, layer_id, options.residual_multiplier))


class _MiniCPM3(LatentAttentionModel):
    options_for = staticmethod(minicpm3_options)


class MiniCPM3ForCausalLM(_MiniCPM3, DecoderForCausalLM):
    pass


class MiniCPM3ForSequenceClassification(_MiniCPM3, DecoderForSequenceClassification):
    pass


class MiniCPM3Model(_MiniCPM3, DecoderForEmbedding):
    pass
