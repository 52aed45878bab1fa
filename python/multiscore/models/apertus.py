"""Apertus (swiss-ai/Apertus-8B / 70B): Llama's block with an RMSNorm over each head of q and k before
rotary (as Qwen3), its norms named ``attention_layernorm`` / ``feedforward_layernorm``, and an ungated MLP,
``down(xielu(up(x)))``: xIELU, an activation with learned scalars per layer (``act_fn.alpha_p`` /
``alpha_n``, and ``beta`` / ``eps`` saved beside them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.linear import Linear
from multiscore.layers.pooler import LabelProbabilityHead, Pooler, PoolingMethod
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
)


class XIELU(nn.Module):
    """x > 0: a_p·x² + β·x; else (expm1(min(x, ε)) − x)·a_n + β·x, with a_p = softplus(alpha_p) and
    a_n = β + softplus(alpha_n) (arXiv 2411.13010, as transformers computes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha_p = nn.Parameter(torch.empty(1))
        self.alpha_n = nn.Parameter(torch.empty(1))
        # Buffers in the checkpoint; parameters here so the loader fills (and checks) them too.
        self.beta = nn.Parameter(torch.empty(()), requires_grad=False)
        self.eps = nn.Parameter(torch.empty(()), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha_p = F.softplus(self.alpha_p)
        alpha_n = self.beta + F.softplus(self.alpha_n)
        negative = (torch.expm1(torch.minimum(x, self.eps)) - x) * alpha_n + self.beta * x
        return torch.where(x > 0, alpha_p * x * x + self.beta * x, negative)


class ApertusMLP(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.up_proj = Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.act_fn = XIELU()

    def forward(self, x: torch.Tensor, ops=None) -> torch.Tensor:  # called as GatedMLP is (x, ops)
        """x [T, H] -> [T, H]."""
        return self.down_proj(self.act_fn(self.up_proj(x)))


def apertus_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, qk_norm=True,
                        mlp_for_layer=lambda config, options, layer_id: ApertusMLP(config))


class _Apertus:
    options_for = staticmethod(apertus_options)
    weight_renames = {"attention_layernorm.": "input_layernorm.", "feedforward_layernorm.": "post_attention_layernorm."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "hidden_act", "xielu") != "xielu":
            raise ValueError(f"Apertus with hidden_act {hf_config.hidden_act!r} is not supported (its MLP is xIELU)")


class ApertusForCausalLM(_Apertus, DecoderForCausalLM):
    pass


class ApertusForSequenceClassification(_Apertus, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class ApertusForTokenClassification(_Apertus, DecoderForTokenClassification):
    pass


class ApertusModel(_Apertus, DecoderForEmbedding):
    pass


class _Apertus1p5(_Apertus):
    """Apertus 1.5 (swiss-ai/Apertus-v1.5-*): Apertus's blocks; its LM head may keep fewer rows than the vocabulary
    (``output_vocab_size``: the media token ids past it are inputs only)."""

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        super().adapt_config(hf_config)
        rows = getattr(hf_config, "output_vocab_size", None)
        if rows and rows != hf_config.vocab_size and getattr(hf_config, "tie_word_embeddings", False):
            raise ValueError(f"an LM head of output_vocab_size {rows} rows tied to {hf_config.vocab_size} embeddings")


class Apertus1p5TextForCausalLM(_Apertus1p5, DecoderForCausalLM):
    def __init__(self, config, pooling=None) -> None:
        super().__init__(config)
        rows = getattr(config, "output_vocab_size", None) or config.vocab_size
        if rows != config.vocab_size:  # the pruned head: label ids below output_vocab_size (ModelConfig.label_vocab_size)
            self.lm_head = nn.Linear(config.hidden_size, rows, bias=False)
            self.pooler = Pooler(PoolingMethod.LAST, LabelProbabilityHead(self.lm_head))


class Apertus1p5TextForSequenceClassification(_Apertus1p5, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Apertus1p5TextModel(_Apertus1p5, DecoderForEmbedding):
    pass
