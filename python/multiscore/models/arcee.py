"""Arcee (arcee-ai/AFM-4.5B): Llama's block with an ungated MLP, ``down(relu(up(x))²)`` (``hidden_act``
``relu2``; Nemotron-H's SquaredReluMLP)."""

import torch

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
)
from multiscore.models.nemotron_h import SquaredReluMLP


class ArceeMLP(SquaredReluMLP):
    def forward(self, x: torch.Tensor, ops=None) -> torch.Tensor:  # called as GatedMLP is (x, ops)
        return super().forward(x)


def arcee_options(config):
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_for_layer=lambda config, options, layer_id: ArceeMLP(config))


class _Arcee:
    options_for = staticmethod(arcee_options)

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "hidden_act", "relu2") != "relu2":
            raise ValueError(f"Arcee with hidden_act {hf_config.hidden_act!r} is not supported (its MLP squares a ReLU: 'relu2')")


class ArceeForCausalLM(_Arcee, DecoderForCausalLM):
    pass


class ArceeForSequenceClassification(_Arcee, DecoderForSequenceClassification):
    pass


class ArceeForTokenClassification(_Arcee, DecoderForTokenClassification):
    pass


class ArceeModel(_Arcee, DecoderForEmbedding):
    pass
