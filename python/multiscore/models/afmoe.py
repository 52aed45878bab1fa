"""Arcee's AFMoE (arcee-ai/Trinity-Nano, Trinity-Mini, Trinity-Large; ``afmoe``): ``AfmoeForCausalLM``,
``AfmoeModel`` and our ``AfmoeForSequenceClassification`` (what ``classifier_from_token`` converts the
causal LM to).

Gemma2's sandwich of norms (``input_layernorm``, ``post_attention_layernorm``, ``pre_mlp_layernorm``,
``post_mlp_layernorm``: served under the decoder's names), attention with per-head q/k norms before rotary,
rotary on the ``sliding_attention`` layers only (the global ones are NoPE), and the output gated dimension by
dimension by σ(``gate_proj``(x)); the first ``num_dense_layers`` MLPs dense, the others DeepSeek-V3's experts
(a sigmoid router whose choice adds ``expert_bias``, the chosen scores renormalised and times
``route_scale``) beside ``num_shared_experts`` shared ones; token embeddings times sqrt(hidden) with
``mup_enabled``.

MIS is exact: routing is per token, windows and rotary by each item's single-item positions.
"""

from __future__ import annotations

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    mlp_activation,
    sliding_layers_rotate,
)
from multiscore.models.deepseek import deepseek_moe_mlp, read_as_deepseek_experts


def afmoe_options(config) -> BlockOptions:
    return BlockOptions(qk_norm=True, sandwich_norms=True, output_gate_per_dim=True, mlp_act=mlp_activation(config),
                        rotary_layer=sliding_layers_rotate, mlp_for_layer=deepseek_moe_mlp(sigmoid=True),
                        embed_scale=config.hidden_size**0.5 if getattr(config, "mup_enabled", False) else None)


class _Afmoe:
    options_for = staticmethod(afmoe_options)
    weight_renames = {
        ".pre_mlp_layernorm.": ".pre_feedforward_layernorm.", ".post_mlp_layernorm.": ".post_feedforward_layernorm.",
        ".self_attn.gate_proj.": ".self_attn.g_proj.", ".mlp.router.gate.": ".mlp.gate.",
        ".mlp.expert_bias": ".mlp.gate.e_score_correction_bias",
    }

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        read_as_deepseek_experts(hf_config, scaling=hf_config.route_scale)
        hf_config.first_k_dense_replace = hf_config.num_dense_layers


class AfmoeForCausalLM(_Afmoe, DecoderForCausalLM):
    pass


class AfmoeForSequenceClassification(_Afmoe, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class AfmoeModel(_Afmoe, DecoderForEmbedding):
    pass
