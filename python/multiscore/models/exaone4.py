"""EXAONE 4.0 (LGAI-EXAONE/EXAONE-4.0-1.2B, -32B): OLMo 2's block layout (norms on the attention and
MLP outputs only) with Qwen3's per-head q/k norms; ``layer_types`` alternate sliding layers (rotary)
with global ones that take no rotary at all (NoPE), when the config has a ``sliding_window``.

K-EXAONE (``exaone_moe``): EXAONE 4.0's attention in a pre-norm block, DeepSeek-V3's experts (a sigmoid
router with its correction bias, stored beside it as ``mlp.e_score_correction_bias``) in the ``sparse``
``mlp_layer_types`` beside ``num_shared_experts`` shared ones; dense MLPs in the others."""

from dataclasses import replace

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
    sliding_layers_rotate,
)
from multiscore.models.deepseek import deepseek_moe_mlp, read_as_deepseek_experts


def exaone4_options(config) -> BlockOptions:
    return BlockOptions(qk_norm=True, post_norms_only=True, mlp_act=mlp_activation(config),
                        rotary_layer=sliding_layers_rotate if getattr(config, "sliding_window", None) is not None else None)


class _Exaone4:
    options_for = staticmethod(exaone4_options)


class Exaone4ForCausalLM(_Exaone4, DecoderForCausalLM):
    pass


class Exaone4ForSequenceClassification(_Exaone4, DecoderForSequenceClassification):
    pass


class Exaone4ForTokenClassification(_Exaone4, DecoderForTokenClassification):
    pass


class Exaone4Model(_Exaone4, DecoderForEmbedding):
    pass


def exaone_moe_options(config) -> BlockOptions:
    return replace(exaone4_options(config), post_norms_only=False, mlp_for_layer=deepseek_moe_mlp(sigmoid=True))


class _ExaoneMoe:
    options_for = staticmethod(exaone_moe_options)
    weight_renames = {"mlp.e_score_correction_bias": "mlp.gate.e_score_correction_bias"}  # the hub's name

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        read_as_deepseek_experts(hf_config)


class ExaoneMoeForCausalLM(_ExaoneMoe, DecoderForCausalLM):
    pass


class ExaoneMoeForSequenceClassification(_ExaoneMoe, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class ExaoneMoeModel(_ExaoneMoe, DecoderForEmbedding):
    pass
