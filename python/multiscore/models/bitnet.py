"""BitNet b1.58 (``bitnet``: microsoft/bitnet-b1.58-2B-4T): Llama's block with two more RMSNorms, one over the
heads' outputs before ``o_proj`` (``attn_sub_norm``) and one over the MLP's intermediate before ``down_proj``
(``ffn_sub_norm``), and a gated MLP whose gate is a squared ReLU (``hidden_act`` relu2).

Its projections are ternary with 8-bit activations (``quantization_config`` bitnet): model_executor/bitnet.py
reads the weights, and each projection quantizes its input per token (``Linear.input_quant``). The sub-norms
come before that quantization: they are part of the projection they feed (``PreNormedLinear``)."""

from __future__ import annotations

import torch
from torch import nn

from multiscore.layers.fused_ops import rms_norm
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)


class PreNormedLinear(Linear):
    """A projection whose input is RMS-normed first (BitNet's sub-norms), before any input quantization."""

    def __init__(self, in_features: int, out_features: int, eps: float) -> None:
        super().__init__(in_features, out_features, bias=False)
        self.norm = RMSNorm(in_features, eps)

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return super().forward(rms_norm(x, self.norm.weight, self.norm.eps), *args, **kwargs)


class BitNetAttention(DecoderAttention):
    def __init__(self, config, options: BlockOptions, layer_id: int) -> None:
        super().__init__(config, options, layer_id=layer_id)
        self.o_proj = PreNormedLinear(self.q_size, config.hidden_size, config.rms_norm_eps)


class BitNetMLP(nn.Module):
    """down(sub_norm(relu(gate(x))² · up(x))): x [T, H] -> [T, H]."""

    def __init__(self, config) -> None:
        super().__init__()
        size = config.intermediate_size
        self.gate_up_proj = FusedLinear(config.hidden_size, {0: size, 1: size}, bias=False)
        self.down_proj = PreNormedLinear(size, config.hidden_size, config.rms_norm_eps)

    def forward(self, x: torch.Tensor, ops=None) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(torch.relu(gate).square() * up)


def bitnet_options(config) -> BlockOptions:
    if getattr(config, "hidden_act", "relu2") != "relu2":
        raise ValueError(f"BitNet with hidden_act {config.hidden_act!r} is not supported (its MLP gate is a squared "
                         "ReLU: 'relu2')")
    if getattr(config, "attention_bias", False):
        raise ValueError("BitNet with attention_bias is not supported (its projections have no biases)")
    return BlockOptions(attention_for_layer=BitNetAttention, mlp_for_layer=lambda c, o, i: BitNetMLP(c))


class _BitNet:
    options_for = staticmethod(bitnet_options)
    # The sub-norms belong to the projections they feed here.
    weight_renames = {"self_attn.attn_sub_norm.": "self_attn.o_proj.norm.", "mlp.ffn_sub_norm.": "mlp.down_proj.norm."}


class BitNetForCausalLM(_BitNet, DecoderForCausalLM):
    pass


class BitNetForSequenceClassification(_BitNet, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class BitNetModel(_BitNet, DecoderForEmbedding):
    pass
