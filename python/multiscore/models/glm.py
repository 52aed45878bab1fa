"""GLM-4 (``glm``: THUDM/glm-4-9b-chat-hf; ``glm4``: zai-org/GLM-4-9B-0414, GLM-Z1): Llama's attention
with q/k/v biases (``attention_bias``) and rotary over interleaved pairs on half of each head
(``partial_rotary_factor``; served as the half rotary, each head's rotated rows reordered as they load),
the gated MLP's gate and up stored fused (``gate_up_proj``, loaded whole). GLM-4-0414 adds sandwich norms:
its ``post_self_attn_layernorm`` and ``post_mlp_layernorm`` norm the attention and MLP outputs, and its
``post_attention_layernorm`` is the norm before the MLP (Gemma2's layout under other names).

GLM-4.5 / 4.6 / 4.7 and GLM-4.5-Air (``glm4_moe``): Llama's block with q/k/v biases (``attention_bias``),
an RMSNorm over each head of q and k where ``use_qk_norm``, the plain (half) rotary on the first
``partial_rotary_factor`` of each head, and DeepSeek-V3's experts (models/deepseek.py: a sigmoid router
with a correction bias, shared experts) from ``first_k_dense_replace`` on."""

from dataclasses import replace

from multiscore.models.deepseek import deepseek_moe_mlp
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)


def glm_options(config) -> BlockOptions:
    return BlockOptions(qkv_bias=bool(getattr(config, "attention_bias", True)), pair_rotary=True,
                        mlp_act=mlp_activation(config))


def glm4_options(config) -> BlockOptions:
    return replace(glm_options(config), sandwich_norms=True)


class GlmForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(glm_options)


class GlmForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(glm_options)


class GlmForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(glm_options)


class GlmModel(DecoderForEmbedding):
    options_for = staticmethod(glm_options)


class _Glm4:
    options_for = staticmethod(glm4_options)
    # GLM-4-0414's norm names -> Gemma2's (DecoderLayer's sandwich norms), in this order.
    weight_renames = {"post_attention_layernorm.": "pre_feedforward_layernorm.",
                      "post_self_attn_layernorm.": "post_attention_layernorm.",
                      "post_mlp_layernorm.": "post_feedforward_layernorm."}


class Glm4ForCausalLM(_Glm4, DecoderForCausalLM):
    pass


class Glm4ForSequenceClassification(_Glm4, DecoderForSequenceClassification):
    pass


class Glm4ForTokenClassification(_Glm4, DecoderForTokenClassification):
    pass


class Glm4Model(_Glm4, DecoderForEmbedding):
    pass


def glm4_moe_options(config) -> BlockOptions:
    return BlockOptions(qkv_bias=bool(getattr(config, "attention_bias", False)), qk_norm=bool(getattr(config, "use_qk_norm", False)),
                        mlp_act=mlp_activation(config), mlp_for_layer=deepseek_moe_mlp(sigmoid=True))


class Glm4MoeForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(glm4_moe_options)


class Glm4MoeForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(glm4_moe_options)


class Glm4MoeModel(DecoderForEmbedding):
    options_for = staticmethod(glm4_moe_options)
