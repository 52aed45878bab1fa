"""OLMo 2 and OLMo 3 (allenai/OLMo-2-*, Olmo-3-*, their reward models such as OLMo-2-1124-7B-RM):
Llama's attention and MLP with the norms moved to their outputs (no norm before either; each output
normed before its residual add: ``post_attention_layernorm``, ``post_feedforward_layernorm``), and
one RMSNorm over all of q's heads (and k's) before rotary. OLMo 3 adds sliding layers
(``layer_types``) whose rotary has its own parameters (``rope_parameters`` keyed by layer type)."""

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    mlp_activation,
)


def olmo2_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, qk_norm_across_heads=True, post_norms_only=True,
                        mlp_act=mlp_activation(config))


class Olmo2ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(olmo2_options)


class Olmo2ForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(olmo2_options)


class Olmo2Model(DecoderForEmbedding):
    options_for = staticmethod(olmo2_options)


# OLMo 3: the same block; its sliding layers and per-type rotary come from the config (DecoderModel).
Olmo3ForCausalLM, Olmo3ForSequenceClassification, Olmo3Model = Olmo2ForCausalLM, Olmo2ForSequenceClassification, Olmo2Model
