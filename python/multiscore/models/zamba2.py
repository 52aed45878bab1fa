"""Zamba2 (Zyphra's Zamba2-1.2B / 2.7B / 7B and their instruct models; transformers' ``zamba2``):
``Zamba2ForCausalLM`` (read at label tokens; or a classifier by ``classifier_from_token``),
``Zamba2ForSequenceClassification`` and ``Zamba2Model``.

Every layer is a Mamba2 layer (mamba2.py: ``input_layernorm``, the mixer, a residual add). Before the
``hybrid`` ones (``layers_block_type``) a shared transformer block runs on [hidden | the token
embeddings] (2H wide): RMSNorm, attention (heads 2H / ``num_attention_heads`` wide, scores scaled by
(head_dim / 2) ** -0.5, rotary with ``use_mem_rope``), RMSNorm, a gated MLP (``hidden_act``), no residual
inside. Its output, through the hybrid layer's own ``linear`` [H, H], is added to the Mamba layer's
input before that layer's norm (its residual stays the plain input). The ``num_mem_blocks`` shared
blocks take turns (hybrid layer j runs block j mod num_mem_blocks), and each projection of a block has
a low-rank adapter per hybrid layer it serves: the MLP's ``gate_up_proj`` always, the attention's q, k
and v with ``use_shared_attention_adapter``. The checkpoint stores each block once, under the first
hybrid layer that runs it (``layers.N.shared_transformer.*``).

MIS is exact (the Mamba layers start each item from its query's state and convolution tail); the
prefix cache and embedding overrides are not served for it (they say why).
"""

from __future__ import annotations

import functools
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
)
from multiscore.models.gated_delta_net import MambaHeads, RecurrentPlan, run_hybrid_layers
from multiscore.models.mamba2 import Mamba2Mixer, Mamba2Shape

_ACTIVATIONS = {"gelu": F.gelu, "gelu_pytorch_tanh": functools.partial(F.gelu, approximate="tanh"), "silu": F.silu}


def _adapters(config, block_id: int, width: int, out: int) -> nn.ModuleList:
    """One low-rank adapter (``.0`` [rank, width], ``.1`` [out, rank]) per hybrid layer this block runs
    at; an empty slot (nn.Identity, never called) at the others, so the indices are the hybrid layers'."""
    hybrids = config.layers_block_type.count("hybrid")
    return nn.ModuleList(
        nn.Sequential(Linear(width, config.adapter_rank, bias=False), Linear(config.adapter_rank, out, bias=False))
        if j % config.num_mem_blocks == block_id else nn.Identity() for j in range(hybrids))


class SharedAttention(nn.Module):
    def __init__(self, config, block_id: int) -> None:
        super().__init__()
        self.heads, self.head_dim = config.num_attention_heads, head_dim_of(config)
        self.kv_heads = config.num_key_value_heads
        width = config.attention_hidden_size  # 2H: [hidden | embeddings]
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        self.qkv_proj = FusedLinear(width, {"q": q, "k": kv, "v": kv}, bias=False)
        self.o_proj = Linear(q, config.hidden_size, bias=False)
        self.scale = (self.head_dim / 2) ** -0.5
        if config.use_shared_attention_adapter:
            self.linear_q_adapter_list = _adapters(config, block_id, width, q)
            self.linear_k_adapter_list = _adapters(config, block_id, width, kv)
            self.linear_v_adapter_list = _adapters(config, block_id, width, kv)
        self.adapted = bool(config.use_shared_attention_adapter)

    def forward(self, x: torch.Tensor, ctx: ForwardContext, hybrid: int, layer_id: int) -> torch.Tensor:
        """x [T, 2H] (normed) -> [T, H]; ``hybrid``: which hybrid layer runs the block (its adapters)."""
        T, D = x.shape[0], self.head_dim
        q, k, v = self.qkv_proj(x).split([self.heads * D, self.kv_heads * D, self.kv_heads * D], dim=-1)
        if self.adapted:
            q = q + self.linear_q_adapter_list[hybrid](x)
            k = k + self.linear_k_adapter_list[hybrid](x)
            v = v + self.linear_v_adapter_list[hybrid](x)
        q, k, v = q.view(T, self.heads, D), k.view(T, self.kv_heads, D), v.view(T, self.kv_heads, D)
        if ctx.cos is not None:
            q, k = apply_rotary(q, ctx.cos, ctx.sin), apply_rotary(k, ctx.cos, ctx.sin)
        out = ctx.attention(q, k, v, self.scale, layer=layer_id)  # [T, heads, D]
        return self.o_proj(out.reshape(T, self.heads * D))


class SharedMLP(nn.Module):
    def __init__(self, config, block_id: int) -> None:
        super().__init__()
        H, inner = config.hidden_size, config.intermediate_size
        self.gate_up_proj = Linear(H, 2 * inner, bias=config.add_bias_linear)  # [gate | up], stored fused
        self.down_proj = Linear(inner, H, bias=config.add_bias_linear)
        self.gate_up_proj_adapter_list = _adapters(config, block_id, H, 2 * inner)
        self.act = _ACTIVATIONS[config.hidden_act]

    def forward(self, x: torch.Tensor, hybrid: int) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        gate, up = (self.gate_up_proj(x) + self.gate_up_proj_adapter_list[hybrid](x)).chunk(2, dim=-1)
        return self.down_proj(self.act(gate) * up)


class SharedTransformer(nn.Module):
    """``shared_transformer.*``: one of the ``num_mem_blocks`` blocks the hybrid layers share."""

    def __init__(self, config, block_id: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.attention_hidden_size, config.rms_norm_eps)
        self.self_attn = SharedAttention(config, block_id)
        self.pre_ff_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.feed_forward = SharedMLP(config, block_id)

    def forward(self, hidden, embeddings, ctx: ForwardContext, hybrid: int, layer_id: int) -> torch.Tensor:
        """hidden, embeddings [T, H] -> [T, H]."""
        x = torch.cat([hidden, embeddings], dim=-1)  # [T, 2H]
        x = ctx.ops.rms_norm(x, self.input_layernorm.weight, self.input_layernorm.eps)
        x = self.self_attn(x, ctx, hybrid, layer_id)
        x = ctx.ops.rms_norm(x, self.pre_ff_layernorm.weight, self.pre_ff_layernorm.eps)
        return self.feed_forward(x, hybrid)


class MambaLayer(nn.Module):
    """``layers.N.*`` (a hybrid layer's ``mamba_decoder.*``): x + mixer(norm(x + added))."""

    def __init__(self, config) -> None:
        super().__init__()
        self.mamba = Mamba2Mixer(Mamba2Shape.of_zamba2(config))
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan: RecurrentPlan,
                added: Optional[torch.Tensor] = None) -> torch.Tensor:
        """hidden [T, H] -> [T, H]; ``added`` [T, H]: the shared block's output, into the mixer's input only."""
        mixer_input = hidden if added is None else hidden + added
        normed = ctx.ops.rms_norm(mixer_input, self.input_layernorm.weight, self.input_layernorm.eps)
        return hidden + self.mamba(normed, plan)


class HybridLayer(nn.Module):
    def __init__(self, config, shared: SharedTransformer, hybrid: int, layer_id: int) -> None:
        super().__init__()
        self.shared_transformer = shared  # the same module in every hybrid layer that runs it
        self.linear = Linear(config.hidden_size, config.hidden_size, bias=False)
        self.mamba_decoder = MambaLayer(config)
        self.hybrid, self.layer_id = hybrid, layer_id

    def forward(self, hidden, ctx: ForwardContext, plan: RecurrentPlan, embeddings: torch.Tensor) -> torch.Tensor:
        shared = self.shared_transformer(hidden, embeddings, ctx, self.hybrid, self.layer_id)
        return self.mamba_decoder(hidden, ctx, plan, added=self.linear(shared))


class Zamba2Body(nn.Module):
    """``model.*`` of a Zamba2 checkpoint."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        blocks = [SharedTransformer(config, b) for b in range(config.num_mem_blocks)]
        layers, hybrid = [], 0
        for i, kind in enumerate(config.layers_block_type):
            if kind == "hybrid":
                layers.append(HybridLayer(config, blocks[hybrid % config.num_mem_blocks], hybrid, i))
                hybrid += 1
            else:
                layers.append(MambaLayer(config))
        self.layers = nn.ModuleList(layers)
        self.final_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config)) if config.use_mem_rope else None
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        embeddings = self.embed_tokens(input_ids)  # [T, H]
        cos, sin = (None, None) if self.rotary_emb is None else self.rotary_emb.cos_sin(positions, embeddings.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        layers = [functools.partial(layer, embeddings=embeddings) if isinstance(layer, HybridLayer) else layer
                  for layer in self.layers]
        return run_hybrid_layers(layers, embeddings, ctx, layouts, keep_rows, self.final_layernorm)


class _Zamba2(MambaHeads):
    make_body = staticmethod(Zamba2Body)
    family = "Zamba2"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"Zamba2 with hidden_act {hf_config.hidden_act!r} is not supported (one of {sorted(_ACTIVATIONS)})")


class Zamba2ForCausalLM(_Zamba2, DecoderForCausalLM):
    pass


class Zamba2ForSequenceClassification(_Zamba2, DecoderForSequenceClassification):
    pass


class Zamba2Model(_Zamba2, DecoderForEmbedding):
    pass
