"""MiniMax-Text-01 / MiniMax-M1 (``minimax``): ``MiniMaxForCausalLM``, ``MiniMaxForSequenceClassification``,
``MiniMaxModel``.

Mixtral's attention and experts (hub names ``block_sparse_moe``, ``w1``/``w3``/``w2``), and, where ``layer_types``
says ``linear_attention``, lightning attention: per head [q | k | v] = SiLU(``qkv_proj``(x)) and the linear
recurrence S_t = exp(−s) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t (no scale), each head's decay s fixed by its index
and the layer's depth; the heads' outputs RMS-normed together, gated by σ(``output_gate``(x)), then ``out_proj``.
MIS by recurrent state: each item runs from its query's state (models/gated_delta_net.py).

Its block keeps the *normed* input on the residual: h = norm(x); y = α·h + β·mixer(h); y' = norm(y);
out = α'·y' + β'·mlp(y'), with each mixer's own (α, β) (``full_attn_*_factor``, ``linear_attn_*_factor``) and
the MLP's (``mlp_*_factor``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of, layer_windows
from multiscore.layers.fused_ops import EAGER, rms_norm
from multiscore.layers.linear import Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
)
from multiscore.models.delta_rule import chunked_linear_attention
from multiscore.models.gated_delta_net import RecurrentHeads, RecurrentPlan, RotaryHybridBody, RowGroups, roots_then_items
from multiscore.models.mistral import MIXTRAL_HUB_NAMES, mixtral_options

_LIGHTNING_NORM_EPS = 1e-6  # the heads' output norm: transformers builds it with its default eps


def lightning_slopes(config, layer_id: int) -> torch.Tensor:
    """Each head's decay rate s [heads], as transformers computes it: (2^(−8/H))^(h+1), less with depth."""
    H, L = config.num_attention_heads, config.num_hidden_layers
    base = 1 / (2 ** (8 / H))
    factor = 1 - layer_id / (L - 1 + 1e-5) + 1e-5
    return base ** (torch.arange(H, dtype=torch.float32, device="cpu") + 1) * factor


class LightningAttention(nn.Module):
    """``self_attn.*`` of a linear-attention layer (checkpoint names)."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.heads, self.head_dim = config.num_attention_heads, head_dim_of(config)
        width = self.heads * self.head_dim
        self.qkv_proj = Linear(config.hidden_size, 3 * width, bias=False)  # per head [q | k | v]
        self.norm = RMSNorm(width, _LIGHTNING_NORM_EPS)
        self.output_gate = Linear(config.hidden_size, width, bias=False)
        self.out_proj = Linear(width, config.hidden_size, bias=False)
        # [heads], on the CPU until first used (a plain attribute: loading materialises buffers empty)
        self.log_decay = -lightning_slopes(config, layer_id)
        self.chunk_size = 64

    def forward(self, hidden: torch.Tensor, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        T = hidden.shape[0]
        qkv = F.silu(self.qkv_proj(hidden))  # [T, heads · 3D]
        out = torch.zeros(T, self.heads, self.head_dim, dtype=torch.float32, device=hidden.device)
        roots_then_items(qkv, plan, 1, lambda x, history, groups, state: self._run(x, groups, out, state))
        normed = rms_norm(out.reshape(T, -1).to(hidden.dtype), self.norm.weight, self.norm.eps)  # the heads together
        return self.out_proj(torch.sigmoid(self.output_gate(hidden)) * normed)

    def _run(self, x: torch.Tensor, groups: RowGroups, out: torch.Tensor, state: Optional[torch.Tensor]) -> torch.Tensor:
        """x [B, L, heads · 3D] (the group's rows) -> writes their outputs into ``out`` [T, heads, D]; returns each
        segment's state after its last token [B, heads, D, D] (from ``state``; None: zeros)."""
        B, L = groups.rows.shape
        D = self.head_dim
        q, k, v = x.float().view(B, L, self.heads, 3 * D).split(D, dim=-1)  # [B, L, heads, D] each
        v = v * groups.valid[..., None, None]  # past a segment's end: no write
        if self.log_decay.device != x.device:
            self.log_decay = self.log_decay.to(x.device)
        log_decay = self.log_decay[None, None, :] * groups.valid[..., None]  # [B, L, heads]; no decay past the end
        if state is None:
            state = q.new_zeros(B, self.heads, D, D)
        q, k, v = (t.transpose(1, 2).reshape(B * self.heads, L, D) for t in (q, k, v))
        o, state = chunked_linear_attention(q, k, v, log_decay.transpose(1, 2).reshape(B * self.heads, L),
                                            state.reshape(B * self.heads, D, D), self.chunk_size)
        o = o.view(B, self.heads, L, D).transpose(1, 2)  # [B, L, heads, D]
        out.index_copy_(0, groups.rows[groups.valid], o[groups.valid])
        return state.view(B, self.heads, D, D)


class MiniMaxLayer(nn.Module):
    def __init__(self, config, layer_id: int, window: Optional[int]) -> None:
        super().__init__()
        self.linear = config.layer_types[layer_id] == "linear_attention"
        options = mixtral_options(config)
        self.self_attn = (LightningAttention(config, layer_id) if self.linear
                          else DecoderAttention(config, options, window, layer_id=layer_id))
        self.mlp = options.mlp_for_layer(config, options, layer_id)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        kind = "linear_attn" if self.linear else "full_attn"
        self.mixer_factors = (float(getattr(config, f"{kind}_alpha_factor")), float(getattr(config, f"{kind}_beta_factor")))
        self.mlp_factors = (float(config.mlp_alpha_factor), float(config.mlp_beta_factor))

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        norm = self.input_layernorm
        normed = ctx.ops.rms_norm(hidden, norm.weight, norm.eps)
        mixed = self.self_attn(normed, plan) if self.linear else self.self_attn(normed, ctx)
        alpha, beta = self.mixer_factors
        norm = self.post_attention_layernorm
        normed = ctx.ops.rms_norm(normed * alpha + mixed * beta, norm.weight, norm.eps)
        alpha, beta = self.mlp_factors
        return normed * alpha + self.mlp(normed, ctx.ops) * beta


class MiniMaxBody(RotaryHybridBody):
    """``model.*``: embeddings, layers, the final norm."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(MiniMaxLayer(config, i, window)
                                    for i, window in enumerate(layer_windows(config)))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config))
        self.ops = EAGER


class _MiniMax(RecurrentHeads):
    make_body = staticmethod(MiniMaxBody)
    family = "MiniMax"
    prefix_cache_problem = "its lightning-attention layers keep a recurrent state, not per-token keys"
    embed_overrides_problem = "not implemented for its lightning-attention layers (refused before any batch runs)"
    weight_renames = MIXTRAL_HUB_NAMES


class MiniMaxForCausalLM(_MiniMax, DecoderForCausalLM):
    pass


class MiniMaxForSequenceClassification(_MiniMax, DecoderForSequenceClassification):
    pass


class MiniMaxModel(_MiniMax, DecoderForEmbedding):
    pass
