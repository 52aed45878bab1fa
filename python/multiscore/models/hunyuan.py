"""HunYuan dense (tencent/Hunyuan-0.5B ... 7B-Instruct, ``hunyuan_v1_dense``): Llama's block with an RMSNorm
over each head of q and k *after* rotary (``query_layernorm`` / ``key_layernorm``), and its NTK-alpha
rotary (``rope_type: dynamic`` with ``alpha``: a fixed base of theta · alpha^(d / (d - 2)), at every
length; layers/rotary.py)."""

from dataclasses import replace

from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.llama import llama_options


def hunyuan_options(config):
    return replace(llama_options(config), qk_norm_after_rotary=True)


class _HunYuan:
    options_for = staticmethod(hunyuan_options)
    weight_renames = {"self_attn.query_layernorm.": "self_attn.q_norm.", "self_attn.key_layernorm.": "self_attn.k_norm."}


class HunYuanDenseV1ForCausalLM(_HunYuan, DecoderForCausalLM):
    pass


class HunYuanDenseV1ForSequenceClassification(_HunYuan, DecoderForSequenceClassification):
    pass


class HunYuanDenseV1Model(_HunYuan, DecoderForEmbedding):
    pass
