"""Seed-OSS (ByteDance-Seed/Seed-OSS-36B): Llama's block with biases on q/k/v (``attention_bias``) and,
apart, on o_proj (``attention_out_bias``); its residual dropout is a training setting."""

from dataclasses import replace

from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
)
from multiscore.models.llama import llama_options


def seed_oss_options(config):
    return replace(llama_options(config), o_bias=bool(getattr(config, "attention_out_bias", False)))


class SeedOssForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(seed_oss_options)


class SeedOssForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(seed_oss_options)


class SeedOssForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(seed_oss_options)


class SeedOssModel(DecoderForEmbedding):
    options_for = staticmethod(seed_oss_options)
