"""The gated delta rule, and plain gated linear attention (Mamba2's SSD), over whole chunks of steps
(matrix products instead of one step at a time).

Per head, with state S [Dk, Dv] and, at step t, a decay α_t = exp(log_decay_t) and a write strength β_t:

    S_t = α_t S_{t-1} + k_t u_tᵀ,   u_t = β_t (v_t − α_t S_{t-1}ᵀ k_t),   o_t = S_tᵀ q_t

Inside a chunk of C steps that starts from S, let γ_t = α_1 ⋯ α_t. Unrolling gives

    u_t + β_t Σ_{j<t} (γ_t/γ_j)(k_tᵀk_j) u_j = β_t v_t − β_t γ_t k_tᵀ S

a unit lower-triangular system (I + A) U = βV − (βγK) S, so U = Û − W S with Û, W solved once per chunk
for every chunk at once (they do not depend on S). Then

    O = (γQ) S + ((γ_t/γ_j)·q_tᵀk_j for j <= t) U,    S_next = γ_C S + (K · γ_C/γ)ᵀ U

and only these three products run chunk after chunk. Steps with β = 0 and log_decay = 0 leave S as it
was, so a sequence padded at its end ends in the state of its last real step.

Gated linear attention (Mamba2: S_t = α_t S_{t-1} + k_t v_tᵀ, o_t = S_tᵀ q_t) is the same without the
correction: U = V, no system to solve (``beta`` None); padded steps need v = 0 and log_decay = 0.

Kimi's delta attention (KDA) decays each key dimension by its own α_t [Dk] (S_t = diag(α_t) S_{t-1} + ...).
The same unrolling holds with the ratios per dimension: k_tᵀk_j, q_tᵀk_j become Σ_d k_td k_jd γ_td/γ_jd,
γ_t k_t and γ_t q_t are products per dimension, and S_next = diag(γ_C) S + (K ⊙ γ_C/γ)ᵀ U. Those ratios are
[C, C, Dk] per chunk: they are built one chunk at a time (``_chunked_per_channel``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def chunked_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, log_decay: torch.Tensor,
                             state: torch.Tensor, chunk_size: int = 64):
    """Gated linear attention: as chunked_delta_rule, without the delta correction."""
    return chunked_delta_rule(q, k, v, None, log_decay, state, chunk_size)


def chunked_delta_rule(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: Optional[torch.Tensor],
                       log_decay: torch.Tensor, state: torch.Tensor, chunk_size: int = 64):
    """q, k [N, L, Dk], v [N, L, Dv], beta (None: no delta correction) and log_decay [N, L] (or [N, L, Dk]:
    a decay per key dimension, with beta), state [N, Dk, Dv] (N: sequences × heads; fp32) -> (outputs
    [N, L, Dv], the state after the last step [N, Dk, Dv])."""
    if log_decay.dim() == 3:
        return _chunked_per_channel(q, k, v, beta, log_decay, state, chunk_size)
    N, L, Dk = k.shape
    Dv = v.shape[-1]
    C = min(chunk_size, L)
    pad = -L % C
    if pad:  # steps that change nothing
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        log_decay = F.pad(log_decay, (0, pad))
        beta = None if beta is None else F.pad(beta, (0, pad))
    n = (L + pad) // C
    q, k, v = (t.reshape(N, n, C, -1) for t in (q, k, v))
    log_decay = log_decay.reshape(N, n, C)
    cum = log_decay.cumsum(-1)  # [N, n, C]: log γ_t
    causal = torch.ones(C, C, dtype=torch.bool, device=k.device).tril()
    # ratio[t, j] = γ_t / γ_j for j <= t, else 0 (masked before exp: above the diagonal it would overflow)
    ratio = (cum[..., :, None] - cum[..., None, :]).masked_fill(~causal, float("-inf")).exp()  # [N, n, C, C]
    if beta is None:  # no correction: U = V
        u_free, w = v, None
    else:
        beta = beta.reshape(N, n, C)
        system = (beta[..., None] * ratio * (k @ k.transpose(-1, -2))).tril(-1)  # A; the unit diagonal is implied
        rhs = torch.cat([beta[..., None] * v, (beta * cum.exp())[..., None] * k], dim=-1)  # [N, n, C, Dv + Dk]
        u_free, w = torch.linalg.solve_triangular(system, rhs, upper=False, unitriangular=True).split([Dv, Dk], dim=-1)
    scores = (q @ k.transpose(-1, -2)) * ratio  # [N, n, C, C]
    q_decayed = q * cum.exp()[..., None]  # γ_t q_t
    last = cum[..., -1:]  # [N, n, 1]: log γ_C
    k_to_end = k * (last - cum).exp()[..., None]  # (γ_C / γ_j) k_j
    chunk_decay = last.exp()[..., None]  # [N, n, 1, 1]
    outputs = []
    for i in range(n):
        u = u_free[:, i] if w is None else u_free[:, i] - w[:, i] @ state  # [N, C, Dv]
        outputs.append(q_decayed[:, i] @ state + scores[:, i] @ u)
        state = state * chunk_decay[:, i] + k_to_end[:, i].transpose(-1, -2) @ u
    return torch.cat(outputs, dim=1)[:, :L], state


def _chunked_per_channel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor,
                         log_decay: torch.Tensor, state: torch.Tensor, chunk_size: int):
    """chunked_delta_rule with log_decay [N, L, Dk] (module doc)."""
    N, L, Dk = k.shape
    Dv = v.shape[-1]
    C = min(chunk_size, L)
    pad = -L % C
    if pad:  # steps that change nothing
        q, k, v, log_decay = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v, log_decay))
        beta = F.pad(beta, (0, pad))
    n = (L + pad) // C
    q, k, v, cum = (t.reshape(N, n, C, -1) for t in (q, k, v, log_decay))
    cum = cum.cumsum(2)  # [N, n, C, Dk]: log γ_t per dimension
    beta = beta.reshape(N, n, C, 1)
    causal = torch.ones(C, C, dtype=torch.bool, device=k.device).tril()[..., None]  # [C, C, 1]: j <= t
    outputs = []
    for i in range(n):
        qi, ki, vi, ci, bi = q[:, i], k[:, i], v[:, i], cum[:, i], beta[:, i]  # [N, C, *]
        # ratio[t, j, d] = γ_td / γ_jd for j <= t, else 0 (masked before exp: above the diagonal it would overflow)
        ratio = (ci[:, :, None] - ci[:, None]).masked_fill(~causal, float("-inf")).exp()  # [N, C, C, Dk]
        k_from = ratio * ki[:, None]  # [N, C, C, Dk]: (γ_t / γ_j) k_j at [t, j]
        system = (bi * (k_from * ki[:, :, None]).sum(-1)).tril(-1)  # A [N, C, C]; the unit diagonal is implied
        rhs = torch.cat([bi * vi, bi * ci.exp() * ki], dim=-1)  # [N, C, Dv + Dk]
        u_free, w = torch.linalg.solve_triangular(system, rhs, upper=False, unitriangular=True).split([Dv, Dk], dim=-1)
        u = u_free - w @ state  # [N, C, Dv]
        scores = (k_from * qi[:, :, None]).sum(-1)  # [N, C, C]: Σ_d q_td k_jd γ_td / γ_jd, zero above the diagonal
        outputs.append((qi * ci.exp()) @ state + scores @ u)
        last = ci[:, -1:]  # [N, 1, Dk]: log γ_C
        state = state * last.exp().transpose(1, 2) + (ki * (last - ci).exp()).transpose(-1, -2) @ u
    return torch.cat(outputs, dim=1)[:, :L], state
