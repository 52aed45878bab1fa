"""Multi-head latent attention (MLA, DeepSeek-V2's), shared by MiniCPM3 and the DeepSeek-V2/V3 family
(models/minicpm3.py, models/deepseek.py).

Per token: q = q_b(norm(q_a(x))) (or q_proj without ``q_lora_rank``), each head [nope | rope];
one latent c = kv_a(x) = [c_kv (kv_lora_rank) | k_rope (one head, shared)]; kv_b(norm(c_kv)) gives each
head [k_nope | v]. Keys are [k_nope | rotary(k_rope)] on every head, queries [q_nope | rotary(q_rope)],
the scale (nope + rope) ** -0.5 (YaRN's mscale folded in where the rope parameters set one). Values
(``v_head_dim``) are narrower than keys: they are padded with zeros to the key width for the attention
call, whose extra output columns are then dropped — the same numbers, through the backends (and the
prefix cache) as they are, keys and values of one width.

DeepSeek rotates its rope part over interleaved (2i, 2i + 1) pairs (V2 always, V3 and its kin when
``rope_interleave``): served as the half rotary, the rope rows of q and of the shared key put
evens-then-odds as they load (``interleaved_rope``), which changes no score: q·k sums over the same pairs.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.linear import Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding, rotary_dims, rotary_share
from multiscore.models.decoder import DecoderModel, ForwardContext, scale_or_none

_LATENT_NORM_EPS = 1e-6  # q_a_layernorm / kv_a_layernorm: the norm's default, not the config's rms_norm_eps


def _softmax_scale(config, width: int) -> float:
    """width ** -0.5, times YaRN's mscale² where the rope parameters set ``mscale_all_dim`` (as transformers)."""
    from transformers.modeling_rope_utils import yarn_apply_mscale

    return float(yarn_apply_mscale(getattr(config, "rope_parameters", None) or {}, width ** -0.5))


def rope_pairs_first(groups: int, width: int, rope: int) -> torch.Tensor:
    """Row order [groups · width] for rows laid out per group as [rest (width - rope) | rope]: each
    group's rope rows put evens-then-odds, the rest as they are (on the CPU, where the loader reads it)."""
    rest = width - rope
    arange = lambda *bounds: torch.arange(*bounds, device="cpu")  # noqa: E731 (the model is built on meta)
    within = torch.cat([arange(rest), rest + arange(0, rope, 2), rest + arange(1, rope, 2)])
    return (arange(groups)[:, None] * width + within).reshape(-1)


class LatentAttention(nn.Module):
    """Multi-head latent attention (module doc); called as DecoderAttention is."""

    def __init__(self, config, layer_id: int, residual_multiplier: float = 1.0, interleaved_rope: bool = False,
                 sinks: bool = False, output_gate: bool = False, rotary: bool = True) -> None:
        """``sinks``: a learned sink logit per head (``sinks`` [H]); ``output_gate``: the output times
        σ(``gate_proj``(x)) dimension by dimension (HY V4's); ``rotary`` False: the rope part is not rotated
        (Kimi Linear's NoPE layers, its shared key part kept)."""
        super().__init__()
        H, hidden = config.num_attention_heads, config.hidden_size
        self.layer_id, self.num_heads = layer_id, H
        self.nope, self.rope, self.v_dim = config.qk_nope_head_dim, config.qk_rope_head_dim, config.v_head_dim
        self.qk_dim = self.nope + self.rope
        if self.v_dim > self.qk_dim:
            raise ValueError(f"v_head_dim {self.v_dim} wider than the keys ({self.qk_dim}) is not supported")
        bias = bool(getattr(config, "attention_bias", False))
        if config.q_lora_rank is None:
            self.q_proj = Linear(hidden, H * self.qk_dim, bias=False)
        else:
            self.q_a_proj = Linear(hidden, config.q_lora_rank, bias=bias)
            self.q_a_layernorm = RMSNorm(config.q_lora_rank, _LATENT_NORM_EPS)
            self.q_b_proj = Linear(config.q_lora_rank, H * self.qk_dim, bias=False)
        self.kv_lora_rank = config.kv_lora_rank
        self.kv_a_proj_with_mqa = Linear(hidden, config.kv_lora_rank + self.rope, bias=bias)
        self.kv_a_layernorm = RMSNorm(config.kv_lora_rank, _LATENT_NORM_EPS)
        self.kv_b_proj = Linear(config.kv_lora_rank, H * (self.nope + self.v_dim), bias=False)
        self.o_proj = Linear(H * self.v_dim, hidden, bias=bias)
        self.o_proj.output_scale = scale_or_none(residual_multiplier)
        self.scale = _softmax_scale(config, self.qk_dim)
        self.sinks = nn.Parameter(torch.empty(H, dtype=torch.float32)) if sinks else None
        self.rotary = rotary
        self.gate_proj = Linear(hidden, H * self.v_dim, bias=False) if output_gate else None
        if interleaved_rope:
            (self.q_proj if config.q_lora_rank is None else self.q_b_proj).load_row_order = rope_pairs_first(
                H, self.qk_dim, self.rope)
            self.kv_a_proj_with_mqa.load_row_order = rope_pairs_first(1, self.kv_lora_rank + self.rope, self.rope)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows=None) -> torch.Tensor:
        """hidden [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        T, heads = hidden.shape[0], self.num_heads
        q, gate = self.queries(hidden, ctx)
        q_nope, q_rope = q.view(T, heads, self.qk_dim).split([self.nope, self.rope], dim=-1)
        c_kv, k_rope = self.kv_a_proj_with_mqa(hidden).split([self.kv_lora_rank, self.rope], dim=-1)
        norm = self.kv_a_layernorm
        kv = self.kv_b_proj(ctx.ops.rms_norm(c_kv, norm.weight, norm.eps)).view(T, heads, self.nope + self.v_dim)
        k_nope, v = kv.split([self.nope, self.v_dim], dim=-1)
        k_rope = k_rope.reshape(T, 1, self.rope)  # [T, 1, rope]
        if self.rotary:
            q_rope = ctx.ops.norm_rotary(q_rope.contiguous(), None, 0.0, ctx.cos, ctx.sin)  # [T, heads, rope]
            k_rope = ctx.ops.norm_rotary(k_rope, None, 0.0, ctx.cos, ctx.sin)
        q = torch.cat([q_nope, q_rope], dim=-1)  # [T, heads, qk]
        if ctx.query_scale is not None:  # Mistral Small 4: Llama 4's temperature on the whole query
            q = q * ctx.query_scale
        k = torch.cat([k_nope, k_rope.expand(T, heads, self.rope)], dim=-1)
        v = F.pad(v, (0, self.qk_dim - self.v_dim))  # [T, heads, qk]: zero columns, dropped below
        out = ctx.attention(q, k, v, self.scale, layer=self.layer_id, sinks=self.sinks)[..., : self.v_dim]  # [T, heads, v]
        if keep_rows is not None:
            out = out.index_select(0, keep_rows)
            gate = None if gate is None else gate.index_select(0, keep_rows)
        if gate is not None:  # [R, heads · v] in float32, as transformers
            out = (out * torch.sigmoid(gate.float()).view(out.shape)).to(out.dtype)
        return self.o_proj(out.reshape(out.shape[0], heads * self.v_dim))

    def queries(self, hidden: torch.Tensor, ctx: ForwardContext) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """hidden [T, H] -> (queries [T, heads · qk], the output gate's logits [T, heads · v] or None)."""
        gate = None if self.gate_proj is None else self.gate_proj(hidden)
        if hasattr(self, "q_proj"):
            return self.q_proj(hidden), gate
        norm = self.q_a_layernorm
        return self.q_b_proj(ctx.ops.rms_norm(self.q_a_proj(hidden), norm.weight, norm.eps)), gate


class LatentAttentionModel:
    """Mixin of the MLA architectures' classes (with their ``options_for``): every head's keys and
    values its own, and the rotary over the rope part only."""

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        # Every head's keys and values are its own (expanded from the shared latent): as many as the queries.
        hf_config.num_key_value_heads = hf_config.num_attention_heads

    body_class = DecoderModel  # A.X K2's: its own layers

    def make_body(self, config) -> nn.Module:
        body = self.body_class(config, self.options_for(config))
        # Only the rope part rotates. Mistral Small 4's config names the whole key width with a partial
        # rotary factor (rope / key width) where the others name the rope part alone: the width whose
        # rotated share is the rope part serves both.
        rope = config.qk_rope_head_dim
        width = round(rope / rotary_share(config))
        if rotary_dims(config, width) != rope:
            raise ValueError(f"partial_rotary_factor {rotary_share(config)} does not rotate qk_rope_head_dim {rope} dims")
        body.rotary_emb = RotaryEmbedding(config, width)
        return body
