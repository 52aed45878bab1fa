"""Mamba2's mixer (``mamba.*`` of Granite 4.0-H's layers) over a packed batch, MIS included.

Per head h (``mamba_n_heads`` of ``mamba_d_head`` channels; B and C shared by the heads of a group):

    dt = clamp(softplus(dt_raw + dt_bias), time_step_limit);   A = −exp(A_log)
    S <- exp(dt·A) · S + (dt·x) Bᵀ      (S [d_head, d_state]);   y = S C + D·x

after a causal depthwise convolution (kernel K, bias, SiLU) over [x | B | C]; then y · silu(z) is
RMS-normalised per group (``mamba_n_groups``) and projected out. Falcon-H1's mixer may normalise before
the gate or not at all, scales its input and each section of [z | x | B | C | dt] by μP multipliers
(``Mamba2Shape.input_multiplier``, ``section_multipliers``), and biases in and out projections apart. This is gated linear attention with
q = C, k = B, v = dt·x, log-decay dt·A (delta_rule.py's chunked form). MIS as gated_delta_net.py's:
queries and plain sequences from a zero state, items from their query's state and convolution tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.linear import Linear
from multiscore.models.delta_rule import chunked_linear_attention
from multiscore.models.gated_delta_net import RecurrentPlan, RowGroups, causal_depthwise_conv, roots_then_items


@dataclass(frozen=True)
class Mamba2Shape:
    """A Mamba2 mixer's sizes, which each architecture's config names its own way."""

    hidden: int
    heads: int
    head_dim: int
    groups: int
    state_size: int
    kernel: int
    eps: float
    proj_bias: bool
    conv_bias: bool
    time_step_limit: tuple = (0.0, float("inf"))
    norm: Optional[str] = "after_gate"  # the grouped RMSNorm of y: "after_gate" (y · silu(z) normed), "before_gate", None
    out_bias: Optional[bool] = None  # None: proj_bias
    input_multiplier: float = 1.0  # Falcon-H1's ssm_in_multiplier: the input times it
    section_multipliers: Optional[tuple] = None  # Falcon-H1's ssm_multipliers: z, x, B, C, dt each times one

    @classmethod
    def of_mamba2(cls, config) -> "Mamba2Shape":
        """Mamba2's own keys (mamba-codestral, state-spaces' mamba2-*)."""
        return cls(config.hidden_size, config.num_heads, config.head_dim, config.n_groups, config.state_size,
                   config.conv_kernel, config.layer_norm_epsilon, bool(config.use_bias), bool(config.use_conv_bias),
                   tuple(config.time_step_limit or (0.0, float("inf"))))

    @classmethod
    def of_granite(cls, config) -> "Mamba2Shape":
        """Granite 4.0's (and Bamba's) ``mamba_*`` keys."""
        return cls(config.hidden_size, config.mamba_n_heads, config.mamba_d_head, config.mamba_n_groups,
                   config.mamba_d_state, config.mamba_d_conv, config.rms_norm_eps, bool(config.mamba_proj_bias),
                   bool(config.mamba_conv_bias), tuple(config.time_step_limit or (0.0, float("inf"))))

    @classmethod
    def of_zamba2(cls, config) -> "Mamba2Shape":
        """Zamba2's: its convolution always biased, its norm's epsilon fixed, dt at least ``time_step_min``."""
        return cls(config.hidden_size, config.n_mamba_heads, config.mamba_headdim, config.mamba_ngroups,
                   config.mamba_d_state, config.mamba_d_conv, 1e-5, bool(config.add_bias_linear), True,
                   (float(config.time_step_min), float("inf")))


class Mamba2Mixer(nn.Module):
    def __init__(self, shape: Mamba2Shape) -> None:
        super().__init__()
        self.heads, self.head_dim = shape.heads, shape.head_dim
        self.groups, self.state_size = shape.groups, shape.state_size
        self.inner = self.heads * self.head_dim
        self.kernel = shape.kernel
        self.conv_dim = self.inner + 2 * self.groups * self.state_size
        self.time_step_limit = shape.time_step_limit
        self.eps = shape.eps
        self.in_proj = Linear(shape.hidden, self.inner + self.conv_dim + self.heads, bias=shape.proj_bias)  # [z | xBC | dt]
        self.input_multiplier = shape.input_multiplier
        self.section_scale = None  # [z | x | B | C | dt] widths' multipliers, one per output column
        if shape.section_multipliers is not None:
            widths = [self.inner, self.inner, self.groups * self.state_size, self.groups * self.state_size, self.heads]
            with torch.device("cpu"):  # real numbers even when the model is built on the meta device
                self.section_scale = torch.cat([torch.full((w,), float(m)) for w, m in zip(widths, shape.section_multipliers)])
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, self.kernel, groups=self.conv_dim,
                                bias=shape.conv_bias)  # weight [C, 1, K]
        self.dt_bias = nn.Parameter(torch.ones(self.heads))
        self.A_log = nn.Parameter(torch.zeros(self.heads))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm_mode = shape.norm
        self.norm = _GatedNormWeight(self.inner) if shape.norm else None
        self.out_proj = Linear(self.inner, shape.hidden, bias=shape.proj_bias if shape.out_bias is None else shape.out_bias)
        self.chunk_size = 64  # steps per chunk of the scan (tests set small ones to cross chunk borders)

    def forward(self, hidden: torch.Tensor, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        T = hidden.shape[0]
        projected = self.in_proj(hidden if self.input_multiplier == 1.0 else hidden * self.input_multiplier)
        if self.section_scale is not None:
            if self.section_scale.dtype != projected.dtype or self.section_scale.device != projected.device:
                self.section_scale = self.section_scale.to(projected.device, projected.dtype)  # once, not every forward
            projected = projected * self.section_scale
        z, xbc, dt = projected.split([self.inner, self.conv_dim, self.heads], dim=-1)
        dt = F.softplus(dt.float() + self.dt_bias.float()).clamp(*self.time_step_limit)  # [T, heads]
        out = torch.zeros(T, self.heads, self.head_dim, dtype=torch.float32, device=hidden.device)
        roots_then_items(xbc, plan, self.kernel, lambda x, history, groups, state: self._run(
            x, history, dt, groups, out, state))
        gate = F.silu(z.float())  # [T, inner]
        y = out.view(T, self.inner)
        if self.norm_mode is None:
            return self.out_proj((y * gate).to(hidden.dtype))
        if self.norm_mode == "after_gate":
            return self.out_proj(self.norm.weight * self._group_rms(y * gate).to(hidden.dtype))
        return self.out_proj((self.norm.weight.float() * self._group_rms(y) * gate).to(hidden.dtype))  # before the gate

    def _group_rms(self, y: torch.Tensor) -> torch.Tensor:
        """[T, inner] float32 -> each group's ``inner / groups`` values divided by their RMS."""
        grouped = y.view(y.shape[0], self.groups, -1)
        return (grouped * torch.rsqrt(grouped.pow(2).mean(-1, keepdim=True) + self.eps)).view(y.shape)

    def _run(self, x: torch.Tensor, history: Optional[torch.Tensor], dt: torch.Tensor, groups: RowGroups,
             out: torch.Tensor, state: Optional[torch.Tensor]) -> torch.Tensor:
        """x [B, L, conv_dim] (the group's rows), history [B, K-1, conv_dim] or None -> writes the rows'
        outputs into ``out`` [T, heads, d_head]; returns each segment's final state [B, heads, d_state, d_head]."""
        B, L = groups.rows.shape
        conv = F.silu(causal_depthwise_conv(x, history, self.conv1d.weight, self.conv1d.bias)).float()
        xs, b, c = conv.split([self.inner, self.groups * self.state_size, self.groups * self.state_size], dim=-1)
        xs = xs.reshape(B, L, self.heads, self.head_dim)
        per_group = self.heads // self.groups
        b, c = (t.reshape(B, L, self.groups, self.state_size).repeat_interleave(per_group, dim=2) for t in (b, c))
        step = dt[groups.rows] * groups.valid[..., None]  # [B, L, heads]; 0 past the end: no write, no decay
        log_decay = step * -self.A_log.float().exp()
        v = xs * step[..., None]
        if state is None:
            state = xs.new_zeros(B, self.heads, self.state_size, self.head_dim)
        q, k, v = (t.transpose(1, 2).reshape(B * self.heads, L, -1) for t in (c, b, v))  # [B·heads, L, .]
        y, state = chunked_linear_attention(q, k, v, log_decay.transpose(1, 2).reshape(B * self.heads, L),
                                            state.reshape(B * self.heads, self.state_size, self.head_dim), self.chunk_size)
        y = y.view(B, self.heads, L, self.head_dim).transpose(1, 2) + xs * self.D.float()[:, None]  # [B, L, heads, d_head]
        out.index_copy_(0, groups.rows[groups.valid], y[groups.valid])
        return state.view(B, self.heads, self.state_size, self.head_dim)


class _GatedNormWeight(nn.Module):
    """``mamba.norm.weight`` [inner]: the grouped RMSNorm's weight."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
