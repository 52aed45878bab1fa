"""Mamba's (version 1) selective-scan mixer over a packed batch, MIS included: Jamba's ``mamba.*``,
Mamba's and FalconMamba's ``mixer.*``.

Per channel d of the ``inner`` ones (expand · hidden), with a state of N per channel:

    dt = softplus(dt_proj(norm(t)));   A = −exp(A_log)  ([inner, N]: a decay per channel and state)
    S <- exp(dt·A) ⊙ S + (dt·x) Bᵀ      (S [inner, N]);   y = S C + D·x;   out = y · silu(z)

where ``in_proj`` gives [x | z], x runs through a causal depthwise convolution (kernel K, bias,
SiLU), and ``x_proj`` of the convolved x gives [t | B | C] (t of the dt rank). Jamba RMS-normalises
t, B and C (``dt_layernorm``, ``b_layernorm``, ``c_layernorm``) before use; FalconMamba does the same
with no weights; Mamba not at all.

Mamba2's decay is one scalar per head, so its scan runs in chunks as linear attention (mamba2.py);
here the decay differs per channel and state, so the scan steps through time: each step decays,
writes and reads the segments' [B, inner, N] states in place. Step by step, those few MB stay in
the CPU's cache; blocks of steps computed at once ([steps, B, inner, N] decays and writes) ran 2-3x
slower here, bound by memory traffic. MIS as mamba2.py's: queries and plain sequences from a zero
state, items from their query's final state and convolution tail (gated_delta_net.roots_then_items).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear
from multiscore.layers.norm import RMSNorm
from multiscore.models.gated_delta_net import RecurrentPlan, RowGroups, causal_depthwise_conv, roots_then_items

@dataclass(frozen=True)
class Mamba1Shape:
    """A Mamba (v1) mixer's sizes, which each architecture's config names its own way."""

    hidden: int
    inner: int
    state_size: int
    dt_rank: int
    kernel: int
    eps: float
    proj_bias: bool
    conv_bias: bool
    # RMSNorms on t, B and C: "weighted" (Jamba's, with their weights), "unit" (FalconMamba's, none), or None.
    dt_bc_norms: Optional[str]

    @classmethod
    def of_jamba(cls, config) -> "Mamba1Shape":
        return cls(config.hidden_size, config.mamba_expand * config.hidden_size, config.mamba_d_state,
                   config.mamba_dt_rank, config.mamba_d_conv, config.rms_norm_eps, bool(config.mamba_proj_bias),
                   bool(config.mamba_conv_bias), dt_bc_norms="weighted")

    @classmethod
    def of_mamba(cls, config) -> "Mamba1Shape":
        """Mamba's and FalconMamba's keys (the latter's ``mixer_rms_eps`` for its unit norms)."""
        unit = getattr(config, "mixer_rms_eps", None)
        return cls(config.hidden_size, config.intermediate_size, config.state_size, config.time_step_rank,
                   config.conv_kernel, unit if unit is not None else config.layer_norm_epsilon, bool(config.use_bias),
                   bool(config.use_conv_bias), dt_bc_norms="unit" if unit is not None else None)


class Mamba1Mixer(nn.Module):
    def __init__(self, shape: Mamba1Shape) -> None:
        super().__init__()
        self.inner, self.state_size, self.dt_rank, self.kernel = shape.inner, shape.state_size, shape.dt_rank, shape.kernel
        self.in_proj = Linear(shape.hidden, 2 * self.inner, bias=shape.proj_bias)  # [x | z]
        self.conv1d = nn.Conv1d(self.inner, self.inner, self.kernel, groups=self.inner, bias=shape.conv_bias)  # weight [inner, 1, K]
        self.x_proj = Linear(self.inner, self.dt_rank + 2 * self.state_size, bias=False)  # [t | B | C]
        self.dt_proj = Linear(self.dt_rank, self.inner, bias=True)
        self.A_log = nn.Parameter(torch.zeros(self.inner, self.state_size))
        self.D = nn.Parameter(torch.ones(self.inner))
        self.out_proj = Linear(self.inner, shape.hidden, bias=shape.proj_bias)
        if shape.dt_bc_norms == "weighted":
            self.dt_layernorm = RMSNorm(self.dt_rank, shape.eps)
            self.b_layernorm = RMSNorm(self.state_size, shape.eps)
            self.c_layernorm = RMSNorm(self.state_size, shape.eps)
        self.dt_bc_norms, self.eps = shape.dt_bc_norms, shape.eps

    def forward(self, hidden: torch.Tensor, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]. Delimiter rows are read by nothing: they get zeros."""
        x, z = self.in_proj(hidden).chunk(2, dim=-1)  # [T, inner] each
        out = torch.zeros(hidden.shape[0], self.inner, dtype=torch.float32, device=hidden.device)
        roots_then_items(x, plan, self.kernel, lambda inputs, history, groups, state: self._run(
            inputs, history, groups, out, state))
        return self.out_proj((out * F.silu(z.float())).to(hidden.dtype))

    def _run(self, x: torch.Tensor, history: Optional[torch.Tensor], groups: RowGroups, out: torch.Tensor,
             state: Optional[torch.Tensor]) -> torch.Tensor:
        """x [B, L, inner] (the group's rows), history [B, K-1, inner] or None -> writes the rows' y into
        ``out`` [T, inner]; returns each segment's final state [B, inner, N]."""
        conv = F.silu(causal_depthwise_conv(x, history, self.conv1d.weight, self.conv1d.bias))  # [B, L, inner]
        t, b, c = self.x_proj(conv).split([self.dt_rank, self.state_size, self.state_size], dim=-1)
        if self.dt_bc_norms == "weighted":
            t, b, c = (EAGER.rms_norm(v, n.weight, n.eps) for v, n in
                       ((t, self.dt_layernorm), (b, self.b_layernorm), (c, self.c_layernorm)))
        elif self.dt_bc_norms == "unit":
            t, b, c = (F.rms_norm(v.float(), (v.shape[-1],), None, self.eps).to(v.dtype) for v in (t, b, c))
        dt = F.softplus(self.dt_proj(t).float()) * groups.valid[..., None]  # [B, L, inner]; 0 past the end: no write, no decay
        conv = conv.float()
        if state is None:
            state = conv.new_zeros(x.shape[0], self.inner, self.state_size)
        y, state = selective_scan(conv, dt, -self.A_log.float().exp(), b.float(), c.float(), state)
        y = y + conv * self.D.float()
        out.index_copy_(0, groups.rows[groups.valid], y[groups.valid])
        return state


def selective_scan(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                   state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x, dt [B, L, inner]; A [inner, N]; b, c [B, L, N]; state [B, inner, N] (fp32 all) ->
    (y [B, L, inner] = each step's state times its C, the final state [B, inner, N])."""
    B, L, inner = x.shape
    writes = dt * x  # [B, L, inner]: each step's write is this times its B
    state = state.clone()  # updated in place, step by step
    decay = torch.empty_like(state)  # [B, inner, N]
    y = x.new_empty(L, B, inner)
    for step in range(L):
        torch.mul(dt[:, step, :, None], A, out=decay).exp_()
        state.mul_(decay).addcmul_(writes[:, step, :, None], b[:, step, None, :])
        torch.bmm(state, c[:, step, :, None], out=y[step].unsqueeze(-1))
    return y.transpose(0, 1), state
