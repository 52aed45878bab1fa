"""EXAONE 4.0 (LGAI-EXAONE/EXAONE-4.0-1.2B, -32B): OLMo 2's block layout (norms on the attention and
MLP outputs only) with Qwen3's per-head q/k norms; ``layer_types`` alternate sliding layers (rotary)
with global ones that take no rotary at all (NoPE), when the config has a ``sliding_window``."""

from torch import nn

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    DecoderModel,
    mlp_activation,
)


def exaone4_options(config) -> BlockOptions:
    return BlockOptions(qk_norm=True, post_norms_only=True, mlp_act=mlp_activation(config))


class _Exaone4:
    options_for = staticmethod(exaone4_options)

    def make_body(self, config) -> nn.Module:
        body = DecoderModel(config, self.options_for(config))
        if getattr(config, "sliding_window", None) is not None:  # global layers: no positions in q·k
            for layer, layer_type in zip(body.layers, config.layer_types):
                layer.self_attn.rotary = layer_type == "sliding_attention"
        return body


class Exaone4ForCausalLM(_Exaone4, DecoderForCausalLM):
    pass


class Exaone4ForSequenceClassification(_Exaone4, DecoderForSequenceClassification):
    pass


class Exaone4ForTokenClassification(_Exaone4, DecoderForTokenClassification):
    pass


class Exaone4Model(_Exaone4, DecoderForEmbedding):
    pass
