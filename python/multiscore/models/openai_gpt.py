"""OpenAI GPT (openai-community/openai-gpt, GPT-1, and the classifiers fine-tuned on it): ``OpenAIGPTLMHeadModel``
(read at label tokens), ``OpenAIGPTForSequenceClassification`` (``score`` at the last token) and ``OpenAIGPTModel``.

GPT-2's attention and Conv1D projections (stored [in, out], gpt2.py) in *post*-norm blocks:
n = ln_1(x + attn(x)); h = ln_2(n + mlp(n)), and no final norm. Learned positions (``positions_embed``) are added
to the token embeddings (``tokens_embed``, which the LM head is tied to). Its ``afn`` "gelu" is GPT's tanh
approximation (transformers' ``gelu_new``). MIS is exact: each item token's position is its single-item one.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import hf_activation
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    with_embed_overrides,
)
from multiscore.models.gpt2 import Gpt2Attention, conv1d_linear

# transformers' modeling_openai ACT_FNS: its "gelu" is the tanh approximation.
_ACTIVATIONS = {"gelu": "gelu_new", "relu": "relu", "silu": "silu", "swish": "silu"}


class OpenAIGPTMlp(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        H = config.hidden_size
        self.c_fc = conv1d_linear(H, 4 * H)
        self.c_proj = conv1d_linear(4 * H, H)
        if config.afn not in _ACTIVATIONS:
            raise ValueError(f"afn {config.afn!r} is not supported (one of {sorted(_ACTIVATIONS)})")
        self.activation = hf_activation(_ACTIVATIONS[config.afn], "afn")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.c_fc(x, self.activation))


class OpenAIGPTBlock(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.layer_norm_epsilon
        self.attn = Gpt2Attention(config, layer_id)  # scaled by 1/sqrt(head_dim), as GPT's blocks always are
        self.ln_1, self.ln_2 = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)
        self.mlp = OpenAIGPTMlp(config)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        x = self.ln_1(x + self.attn(x, attention))
        return self.ln_2(x + self.mlp(x))


class OpenAIGPTBody(nn.Module):
    """``transformer.*``: ``tokens_embed``, ``positions_embed``, blocks ``h.N``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops); this body's norms are LayerNorms
        self.tokens_embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.positions_embed = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.h = nn.ModuleList(OpenAIGPTBlock(config, i) for i in range(config.num_hidden_layers))

    @property
    def embed_tokens(self) -> nn.Embedding:
        return self.tokens_embed

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None)."""
        x = with_embed_overrides(self.tokens_embed(input_ids), embed_overrides) + self.positions_embed(positions)
        for block in self.h:
            x = block(x, attention)
        return x if keep_rows is None else x.index_select(0, keep_rows)


class _OpenAIGPT:
    weight_prefix_aliases = {"transformer.": "model.", "": "model."}

    def make_body(self, config) -> nn.Module:
        return OpenAIGPTBody(config)


class OpenAIGPTLMHeadModel(_OpenAIGPT, DecoderForCausalLM):
    pass


class OpenAIGPTForSequenceClassification(_OpenAIGPT, DecoderForSequenceClassification):
    pass


class OpenAIGPTModel(_OpenAIGPT, DecoderForEmbedding):
    pass
