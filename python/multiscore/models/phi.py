"""Phi (microsoft/phi-1, phi-1_5, phi-2, and their fine-tunes): ``PhiForCausalLM`` (read at label
tokens; its LM head has a bias), ``PhiForSequenceClassification``, ``PhiModel``.

Parallel blocks (cohere.py's ``ParallelLayer``): one biased LayerNorm feeds both the attention (biased
q/k/v and ``dense``, rotary on the first ``partial_rotary_factor`` of each head) and a GELU MLP
(``fc1``, ``fc2``), their outputs added to the input together; a final ``final_layernorm``.
``qk_layernorm`` checkpoints are refused with the reason.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import Linear, hf_activation
from multiscore.layers.pooler import LabelProbabilityHead, Pooler, PoolingMethod
from multiscore.models.cohere import ParallelBody, ParallelLayer
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
)


class PhiMlp(nn.Module):
    """fc2(act(fc1(x))), the config's activation; biased (``bias``: StarCoder2's ``use_bias``)."""

    def __init__(self, config, bias: bool = True) -> None:
        super().__init__()
        self.fc1 = Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.fc2 = Linear(config.intermediate_size, config.hidden_size, bias=bias)
        self.activation = hf_activation(config.hidden_act)

    def forward(self, x: torch.Tensor, ops) -> torch.Tensor:
        return self.fc2(self.fc1(x, self.activation))


def phi_layer(config, window: Optional[int], layer_id: int) -> ParallelLayer:
    attention = DecoderAttention(config, BlockOptions(qkv_bias=True, o_bias=True), window, layer_id=layer_id)
    return ParallelLayer(nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps), attention, PhiMlp(config))


class _Phi:
    weight_renames = {"self_attn.dense.": "self_attn.o_proj."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "qk_layernorm", False):
            raise ValueError("Phi checkpoints with qk_layernorm (per-head q/k LayerNorms) are not supported")

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, phi_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps), "final_layernorm")


class BiasedLmHeadCausalLM(DecoderForCausalLM):
    """A causal LM whose LM head has a bias (Phi's, GPT-J's; Phi-3.5-MoE's with ``lm_head_bias``): ``lm_biased``
    says, from the config, whether it has one."""

    @staticmethod
    def lm_biased(config) -> bool:
        return True

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        if self.lm_biased(config):
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
            self.pooler = Pooler(PoolingMethod.LAST, LabelProbabilityHead(self.lm_head))


class PhiForCausalLM(_Phi, BiasedLmHeadCausalLM):
    pass


class PhiForSequenceClassification(_Phi, DecoderForSequenceClassification):
    pass


class PhiForTokenClassification(_Phi, DecoderForTokenClassification):
    pass


class PhiModel(_Phi, DecoderForEmbedding):
    pass
