"""MiniCPM 5 MoE (openbmb/MiniCPM5-15B-A2.5B): ``MiniCPM5MoeForCausalLM``, ``MiniCPM5MoeModel``, and our
``MiniCPM5MoeForSequenceClassification`` (for ``classifier_from_token``). Not MiniCPM 1-4 (models/minicpm.py):
no multipliers.

Llama's attention with its output gated dimension by dimension: ``q_proj`` (transformers' ``q_gate_proj``)
holds each head's query rows, then its gate rows, and the attention output is multiplied by σ(gate)
(``BlockOptions.query_holds_gate``). Dense MLPs where ``mlp_layer_types`` says "dense", DeepSeek-V3's experts
(models/deepseek.py: a float32 sigmoid router, the choice biased, groups, renormalised, scaled) beside a
shared one in the others.

MIS is exact: the gate and the routing are per token.
"""

from __future__ import annotations

from dataclasses import replace

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.deepseek import deepseek_moe_mlp
from multiscore.models.llama import llama_options


def minicpm5_moe_options(config) -> BlockOptions:
    if getattr(config, "use_gated_attention", True) is False:
        raise ValueError("MiniCPM5-MoE without gated attention (use_gated_attention false) is not supported")
    return replace(llama_options(config), query_holds_gate=True, mlp_for_layer=deepseek_moe_mlp(sigmoid=True))


class _MiniCpm5Moe:
    options_for = staticmethod(minicpm5_moe_options)
    weight_renames = {".q_gate_proj.": ".q_proj."}  # as transformers names it; the hub's q_proj


class MiniCPM5MoeForCausalLM(_MiniCpm5Moe, DecoderForCausalLM):
    pass


class MiniCPM5MoeForSequenceClassification(_MiniCpm5Moe, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class MiniCPM5MoeModel(_MiniCpm5Moe, DecoderForEmbedding):
    pass


MiniCPM5MoEForCausalLM = MiniCPM5MoeForCausalLM  # the name its first checkpoints' configs give
