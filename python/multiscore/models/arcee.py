"""Arcee (arcee-ai/AFM-4.5B): Llama's block with an ungated MLP, ``down(relu(up(x))²)`` (``hidden_act``
``relu2``; Nemotron-H's SquaredReluMLP).

Cosmos3 Edge's language model (``cosmos3_edge_text``, on text; our ``Cosmos3EdgeTextForCausalLM``): the same block
under the hub's names (the language model at the checkpoint's root, ``to_q`` / ``to_k`` / ``to_v`` / ``to_out``) or
transformers' (``fc1`` / ``fc2``), M-RoPE one rotary on text."""

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


class _Cosmos3EdgeText(_Arcee):
    # The hub's attention names (its language model at the checkpoint's root), and transformers' MLP module names.
    weight_renames = {".self_attn.to_q.": ".self_attn.q_proj.", ".self_attn.to_k.": ".self_attn.k_proj.",
                      ".self_attn.to_v.": ".self_attn.v_proj.", ".self_attn.to_out.": ".self_attn.o_proj.",
                      ".mlp.fc1.": ".mlp.up_proj.", ".mlp.fc2.": ".mlp.down_proj."}


class Cosmos3EdgeTextForCausalLM(_Cosmos3EdgeText, DecoderForCausalLM):
    """Ours (transformers serves it only inside Cosmos3EdgeForConditionalGeneration)."""


class Cosmos3EdgeTextForSequenceClassification(_Cosmos3EdgeText, DecoderForSequenceClassification):
    pass
