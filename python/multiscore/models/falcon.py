"""Falcon (tiiuae/falcon-7b, 40b, 180B, Falcon2-11B and the classifiers fine-tuned on them):
``FalconForCausalLM`` (read at label tokens), ``FalconForSequenceClassification``,
``FalconForTokenClassification`` and ``FalconModel``.

Blocks of LayerNorms (biased), one fused ``query_key_value`` and ``dense`` (biased by ``bias``), rotary on
every dimension, and an MLP ``dense_h_to_4h`` -> ``activation`` -> ``dense_4h_to_h``, in one of three shapes:
- ``new_decoder_architecture`` (40B, 180B, 11B): q/k/v rows grouped per key/value head, [its queries | k | v],
  and a parallel block: x + attn(ln_attn(x)) + mlp(ln_mlp(x)), or one ``input_layernorm`` feeding both
  (``num_ln_in_parallel_attn`` 1);
- ``multi_query`` (7B): [q (all heads) | k | v], one key/value head; ``parallel_attn``: one LayerNorm feeding
  attention and MLP;
- otherwise q/k/v rows per head [q | k | v]; without ``parallel_attn`` a sequential block (two LayerNorms).
ALiBi (``alibi``: falcon-rw-1b / 7b) is refused with the reason. Checkpoints name the body ``transformer.``
(``word_embeddings``, ``h.N``, ``ln_f``), served under the decoder's names as they load.

MIS is exact: rotary by each item token's single-item position.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.linear import Linear, hf_activation
from multiscore.models.cohere import ParallelBody, ParallelLayer
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    ForwardContext,
)
from multiscore.models.layernorm_decoders import SequentialLayer


class FalconAttention(nn.Module):
    """``query_key_value`` and ``dense``; q/k/v rows in the config's layout (module docstring)."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.num_attention_heads, layer_id
        self.head_dim = H // self.num_heads
        self.grouped = bool(config.new_decoder_architecture)
        self.per_head = not self.grouped and not config.multi_query  # [q | k | v] per head
        self.num_kv_heads = config.num_kv_heads if self.grouped else (self.num_heads if self.per_head else 1)
        self.query_key_value = Linear(H, (self.num_heads + 2 * self.num_kv_heads) * self.head_dim, bias=config.bias)
        self.dense = Linear(H, H, bias=config.bias)
        self.scale = self.head_dim**-0.5

    def forward(self, x: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """x [T, H] -> [T, H], before the residual add."""
        T, D, Hkv = x.shape[0], self.head_dim, self.num_kv_heads
        qkv = self.query_key_value(x)
        if self.grouped:  # [T, Hkv, heads per group + 2, D]: each group's queries, then its key and value
            groups = qkv.view(T, Hkv, -1, D)
            q, k, v = groups[:, :, :-2].reshape(T, self.num_heads, D), groups[:, :, -2], groups[:, :, -1]
        elif self.per_head:
            q, k, v = qkv.view(T, self.num_heads, 3, D).unbind(2)  # [T, heads, D] each
        else:  # multi-query: [q (all heads) | k | v]
            q, k, v = qkv.view(T, self.num_heads + 2, D).split([self.num_heads, 1, 1], dim=1)
        q = ctx.ops.norm_rotary(q, None, 0.0, ctx.cos, ctx.sin)
        k = ctx.ops.norm_rotary(k, None, 0.0, ctx.cos, ctx.sin)
        out = ctx.attention(q, k, v, self.scale, layer=self.layer_id)  # [T, heads, D]
        return self.dense(out.reshape(T, -1))


class FalconMlp(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        H, inner = config.hidden_size, config.ffn_hidden_size or 4 * config.hidden_size
        self.dense_h_to_4h = Linear(H, inner, bias=config.bias)
        self.dense_4h_to_h = Linear(inner, H, bias=config.bias)
        self.activation = hf_activation(config.activation, "activation")

    def forward(self, x: torch.Tensor, ops) -> torch.Tensor:
        return self.dense_4h_to_h(self.dense_h_to_4h(x, self.activation))


class TwoNormParallelLayer(nn.Module):
    """Falcon-40B/180B's block: x + attn(ln_attn(x)) + mlp(ln_mlp(x))."""

    def __init__(self, make_norm, attention: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.ln_attn, self.ln_mlp = make_norm(), make_norm()
        self.self_attn, self.mlp = attention, mlp

    def forward(self, x: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        return x + self.self_attn(self.ln_attn(x), ctx) + self.mlp(self.ln_mlp(x), ctx.ops)


def falcon_layer(config, window: Optional[int], layer_id: int) -> nn.Module:
    make_norm = lambda: nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)  # noqa: E731
    attention, mlp = FalconAttention(config, layer_id), FalconMlp(config)
    if config.new_decoder_architecture and (config.num_ln_in_parallel_attn or 2) == 2:
        return TwoNormParallelLayer(make_norm, attention, mlp)
    if config.new_decoder_architecture or config.parallel_attn:
        return ParallelLayer(make_norm(), attention, mlp)
    return SequentialLayer(make_norm, attention, mlp)


class _Falcon:
    # ``transformer.h.N`` (a bare FalconModel's ``h.N``) -> ``model.layers.N``; the rest by weight_renames.
    weight_prefix_aliases = {"transformer.h.": "model.layers.", "h.": "model.layers.", "transformer.": "model.", "": "model."}
    weight_renames = {"word_embeddings.": "embed_tokens.", "ln_f.": "norm.", ".self_attention.": ".self_attn."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "alibi", False):
            raise ValueError("Falcon with alibi (ALiBi position biases: falcon-rw-1b / 7b) is not supported; "
                             "the rotary Falcon models (7B, 40B, 180B, 11B) are")
        if hf_config.new_decoder_architecture and not hf_config.parallel_attn:
            raise ValueError("Falcon with new_decoder_architecture and parallel_attn false is not supported "
                             "(transformers' own block reads LayerNorms it never built there)")

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, falcon_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon))


class FalconForCausalLM(_Falcon, DecoderForCausalLM):
    pass


class FalconForSequenceClassification(_Falcon, DecoderForSequenceClassification):
    pass


class FalconForTokenClassification(_Falcon, DecoderForTokenClassification):
    weight_renames = {**_Falcon.weight_renames, "classifier.": "score."}  # transformers' name for the token head


class FalconModel(_Falcon, DecoderForEmbedding):
    pass
