"""MPT (mosaicml/mpt-7b and its -instruct / -chat / -8k / -storywriter kin, mpt-30b, and the classifiers fine-tuned
on them): ``MptForCausalLM`` (read at label tokens), ``MptForSequenceClassification``,
``MptForTokenClassification`` and ``MptModel``.

Token embeddings (``wte``), blocks (``blocks.N``) of LayerNorms without bias (``norm_1``, ``norm_2``),
attention (``attn.Wqkv`` [q | k | v] of all heads, clamped to ±``clip_qkv`` where set; ``out_proj``; scores
scaled by ``softmax_scale``) and a GELU MLP (``ffn.up_proj``, ``ffn.down_proj``), a final ``norm_f``, no
biases, the LM head tied to ``wte``; ALiBi (layers/alibi.py) with MPT's slopes. As transformers serves it:
configs whose original model differs from that (``qk_ln``, multi-query attention, learned positions instead of
ALiBi, biases, another MLP width or ALiBi maximum, a prefix LM, a logit scale) are refused with the reason.

MIS is exact: ALiBi reads each key's single-item position.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from multiscore.layers.alibi import Alibi, run_alibi_blocks
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear, hf_activation
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    with_embed_overrides,
)


def mpt_alibi_slopes(num_heads: int, alibi_bias_max: int = 8) -> torch.Tensor:
    """[num_heads] float32: 2^(-i·max/n) for n the power of two at or above num_heads; with fewer heads,
    the odd-numbered slopes first, then the even ones (MPT's own order)."""
    n = 2 ** math.ceil(math.log2(num_heads))
    slopes = 1.0 / torch.pow(2, torch.arange(1, n + 1, dtype=torch.float32) * (alibi_bias_max / n))
    if n != num_heads:
        slopes = torch.cat([slopes[1::2], slopes[::2]])[:num_heads]
    return slopes


class MptAttention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.n_heads, layer_id
        self.head_dim = H // self.num_heads
        self.Wqkv = Linear(H, 3 * H, bias=False)
        self.out_proj = Linear(H, H, bias=False)
        self.clip_qkv = config.attn_config.clip_qkv
        self.scale = config.attn_config.softmax_scale or 1 / math.sqrt(H / self.num_heads)
        with torch.device("cpu"):  # real numbers even when the model is built on the meta device
            self.alibi = Alibi(mpt_alibi_slopes(self.num_heads))

    def forward(self, x: torch.Tensor, attention: BatchAttention, k_dims: torch.Tensor) -> torch.Tensor:
        """x [T, H], ``k_dims`` [T, 1, ALIBI_DIMS] (alibi.key_dims) -> [T, H], before the residual add."""
        T, H = x.shape
        qkv = self.Wqkv(x)
        if self.clip_qkv:
            qkv = qkv.clamp(min=-self.clip_qkv, max=self.clip_qkv)
        q, k, v = qkv.view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        out = self.alibi.attend(attention, q, k, v, self.scale, k_dims, self.layer_id)  # [T, heads, D]
        return self.out_proj(out.reshape(T, H))


class MptMlp(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        H = config.hidden_size
        self.up_proj, self.down_proj = Linear(H, 4 * H, bias=False), Linear(4 * H, H, bias=False)
        self.activation = hf_activation("gelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.up_proj(x, self.activation))


class MptBlock(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.layer_norm_epsilon
        self.norm_1, self.norm_2 = nn.LayerNorm(H, eps=eps, bias=False), nn.LayerNorm(H, eps=eps, bias=False)
        self.attn, self.ffn = MptAttention(config, layer_id), MptMlp(config)

    def forward(self, x: torch.Tensor, attention: BatchAttention, k_dims: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_1(x), attention, k_dims)
        return x + self.ffn(self.norm_2(x))


class MptBody(nn.Module):
    """``transformer.*``: ``wte``, blocks ``blocks.N``, ``norm_f``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = nn.ModuleList(MptBlock(config, i) for i in range(config.n_layers))
        self.norm_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon, bias=False)
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops); this body's norms are LayerNorms

    @property
    def embed_tokens(self) -> nn.Embedding:
        """The token embeddings, by the name the decoder heads tie the LM head to."""
        return self.wte

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None)."""
        x = with_embed_overrides(self.wte(input_ids), embed_overrides)  # [T, H]
        return run_alibi_blocks(x, positions, self.blocks, attention, keep_rows, self.norm_f)


# What transformers' MPT leaves out, and the value under which that changes nothing.
_AS_TRANSFORMERS = {"qk_ln": False, "attn_type": "multihead_attention", "alibi": True, "alibi_bias_max": 8, "prefix_lm": False}


class _Mpt:
    weight_prefix_aliases = {"transformer.": "model.", "": "model."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        attn = hf_config.attn_config
        for key, served in _AS_TRANSFORMERS.items():
            if getattr(attn, key, served) != served:
                raise ValueError(f"MPT with attn_config.{key} {getattr(attn, key)!r} is not supported (served: {served!r}, "
                                 "as transformers' MPT computes it)")
        for key, served in {"no_bias": True, "expansion_ratio": 4, "logit_scale": None}.items():
            if getattr(hf_config, key, served) != served:
                raise ValueError(f"MPT with {key} {getattr(hf_config, key)!r} is not supported (served: {served!r}, "
                                 "as transformers' MPT computes it)")

    def make_body(self, config) -> nn.Module:
        return MptBody(config)


class MptForCausalLM(_Mpt, DecoderForCausalLM):
    pass


class MptForSequenceClassification(_Mpt, DecoderForSequenceClassification):
    pass


class MptForTokenClassification(_Mpt, DecoderForTokenClassification):
    weight_renames = {"classifier.": "score."}  # transformers' name for the token head


class MptModel(_Mpt, DecoderForEmbedding):
    pass

