"""Qwen3.5's linear-attention layer (a gated delta rule) over a packed batch, MIS included.

Each token updates a recurrent state S [value heads, key dim, value dim] and reads it:

    S <- exp(g_t) · S;  S <- S + k_t ⊗ β_t (v_t − Sᵀ k_t);  o_t = Sᵀ q_t

with q, k L2-normalised (q also by 1/sqrt(key dim)), β = sigmoid(b), g = −exp(A_log) · softplus(a + dt_bias),
after a causal depthwise convolution (kernel K, SiLU) over the layer's q/k/v projections.

MIS (DESIGN.md §4): an item must see its query and nothing of the other items. Here that is state,
not keys: the query runs from a zero state (a *root*), and every item runs from its query's final
state and convolution history (its last K − 1 inputs), all items of all queries side by side. A
plain sequence is a root without items, and so is each item of an empty query. Delimiter rows are read by nothing (DESIGN.md §4): they get
zeros. ``RecurrentPlan`` holds those row groups, built once per batch from its layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention.base import SequenceLayout
from multiscore.layers.linear import Linear, grouped_to_blocked
from multiscore.models.decoder import ForwardContext
from multiscore.models.delta_rule import chunked_delta_rule


@dataclass
class RowGroups:
    """Segments of the flat batch, padded at their end: rows [B, L] (0 where padded), valid [B, L]."""

    rows: torch.Tensor
    valid: torch.Tensor
    lengths: torch.Tensor  # [B]

    @classmethod
    def of(cls, segments: list[tuple[int, int]], device) -> "RowGroups":
        """segments: (first row, length) each, length >= 1."""
        longest = max(n for _, n in segments)
        offsets = torch.arange(longest)
        starts = torch.tensor([s for s, _ in segments])[:, None]
        lengths = torch.tensor([n for _, n in segments])
        valid = offsets[None, :] < lengths[:, None]
        rows = torch.where(valid, starts + offsets[None, :], 0)
        return cls(rows.to(device), valid.to(device), lengths.to(device))


@dataclass
class RecurrentPlan:
    roots: RowGroups  # plain sequences and MIS queries, from a zero state
    items: Optional[RowGroups]  # MIS items (non-empty), each from its root's final state
    item_root: Optional[torch.Tensor]  # [B2] the root of each item

    @classmethod
    def of(cls, layouts: list[SequenceLayout], device) -> "RecurrentPlan":
        roots, items, item_root = [], [], []
        for layout in layouts:
            if layout.cached_len:
                raise ValueError("linear-attention layers cannot start from cached keys (the prefix cache is off for them)")
            if layout.query_len is None:
                roots.append((layout.start, layout.length))
                continue
            if layout.query_len:
                roots.append((layout.start, layout.query_len))
            row = layout.start + layout.query_len + 1  # past the first delimiter
            for n in layout.item_lens.tolist():
                if n and layout.query_len:
                    items.append((row, n))
                    item_root.append(len(roots) - 1)
                elif n:  # an empty query: each item alone, from a zero state
                    roots.append((row, n))
                row += n + 1
        return cls(RowGroups.of(roots, device), RowGroups.of(items, device) if items else None,
                   torch.tensor(item_root, device=device) if items else None)


class RecurrentHeads:
    """What the heads over a body with recurrent layers share (Qwen3.5, Granite 4.0, Nemotron-H): the
    body reads the batch's layouts (its recurrent layers' segments); the prefix cache and embedding
    overrides are not served (each family's ``prefix_cache_problem`` / ``embed_overrides_problem`` say why)."""

    family: str  # the model's name in messages

    def hidden_states(self, batch, attention, rows):
        if batch.embed_overrides is not None:
            raise ValueError(f"embedding overrides are not supported for {self.family}")
        return self.model(batch.input_ids, batch.positions, attention, rows, batch.layouts)


def run_hybrid_layers(layers, hidden: torch.Tensor, ctx, layouts, keep_rows: Optional[torch.Tensor], norm: nn.Module) -> torch.Tensor:
    """What the hybrid bodies (LFM2, Jamba, Bamba, Falcon-H1) share past their embeddings: every layer,
    called as ``layer(hidden, ctx, plan)`` with the batch's RecurrentPlan, then the rows the pooler reads
    (``keep_rows`` [R]; None: all), then the final RMSNorm ``norm``. hidden [T, H] -> [R, H]."""
    plan = RecurrentPlan.of(layouts, hidden.device)
    for layer in layers:
        hidden = layer(hidden, ctx, plan)
    if keep_rows is not None:
        hidden = hidden.index_select(0, keep_rows)
    return ctx.ops.rms_norm(hidden, norm.weight, norm.eps)


class RotaryHybridBody(nn.Module):
    """The forward of the hybrid bodies with rotary attention layers and no embedding scale (MiniMax, Lara Mini):
    token embeddings, the rotary's cos / sin, run_hybrid_layers. Subclasses build ``embed_tokens``, ``layers``,
    ``norm``, ``rotary_emb`` and ``ops``."""

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention, keep_rows: Optional[torch.Tensor],
                layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, hidden.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        return run_hybrid_layers(self.layers, hidden, ctx, layouts, keep_rows, self.norm)


class MambaHeads(RecurrentHeads):
    """RecurrentHeads of the models with Mamba layers (Mamba, Jamba, Bamba, Granite 4.0, Nemotron-H,
    Falcon-H1): why the prefix cache and embedding overrides are not served for them."""

    prefix_cache_problem = "its Mamba layers keep a recurrent state, not per-token keys"
    embed_overrides_problem = "not implemented for its Mamba layers (refused before any batch runs)"


def roots_then_items(mixed: torch.Tensor, plan: RecurrentPlan, kernel: int, run: Callable) -> None:
    """A recurrent layer over a batch's segments: ``run(x [B, L, C], history [B, K-1, C] or None (zeros),
    groups, state or None (zeros)) -> each segment's final state [B, ...]``, on the roots, then on the
    items from their root's state and last K-1 convolution inputs (zeros before its start). Rows past
    a segment's end hold some other row's values: ``run`` must let them write nothing into the state."""
    x = mixed[plan.roots.rows]  # [B1, L1, C]
    state = run(x, None, plan.roots, None)
    if plan.items is not None:
        C = x.shape[2]
        ends = plan.roots.lengths[:, None] - (kernel - 1) + torch.arange(kernel - 1, device=x.device)  # [B1, K-1]
        tails = x.gather(1, ends.clamp(min=0)[..., None].expand(-1, -1, C)) * (ends >= 0)[..., None]
        run(mixed[plan.items.rows], tails[plan.item_root], plan.items, state[plan.item_root])


# Checkpoint names of a PiecewiseConv1d's pieces (OLMo Hybrid's, Kimi Linear's) -> (its module, piece).
PIECEWISE_CONV_PIECES = {"q_conv1d": ("conv1d", "q"), "k_conv1d": ("conv1d", "k"), "v_conv1d": ("conv1d", "v")}


class PiecewiseConv1d(nn.Conv1d):
    """A depthwise convolution whose weight [C, 1, K] a checkpoint may store in pieces (``q`` / ``k`` / ``v``),
    to be read back to back in that order whatever their sizes (transformers saves uneven ones)."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__(channels, channels, kernel, groups=channels, bias=False)
        self.shard_rows = {"q": None, "k": None, "v": None}  # the weight loader's: every piece expected
        self._pieces: dict[str, torch.Tensor] = {}

    def weight_loader(self, param: nn.Parameter, loaded: torch.Tensor, shard_id: str) -> None:
        self._pieces[shard_id] = loaded
        if len(self._pieces) == len(self.shard_rows):
            whole = torch.cat([self._pieces[s] for s in self.shard_rows])
            if whole.shape != param.shape:
                raise ValueError(f"convolution pieces of {tuple(whole.shape)}, but the layer's is {tuple(param.shape)}")
            param.data.copy_(whole)
            self._pieces.clear()


class DeltaRuleLayer(nn.Module):
    """What the delta-rule layers share: a segment group's rows through their causal convolution (SiLU; the
    channels [q | k | v], ``conv1d.weight``), q and k L2-normalised (q by 1/sqrt(key dim) too), then the
    chunked delta rule per head. Set by each layer: k_heads, v_heads, k_dim, v_dim, key_size, value_size,
    kernel, conv1d, chunk_size."""

    def _run(self, x: torch.Tensor, history: Optional[torch.Tensor], beta, decay, groups: RowGroups,
             out: torch.Tensor, state: Optional[torch.Tensor]) -> torch.Tensor:
        """x [B, L, C] (the group's rows), history [B, K-1, C] (the convolution's inputs before them; None:
        zeros), beta [T, Hv], decay [T, Hv] (or [T, Hv, Dk]: one per key dimension) -> writes the rows'
        outputs into ``out`` [T, Hv, Dv]; returns each segment's state after its last token [B, Hv, Dk, Dv]
        (from ``state``; None: zeros)."""
        B, L = groups.rows.shape
        conv = F.silu(causal_depthwise_conv(x, history, self.conv1d.weight), inplace=True)  # [B, L, C]
        q, k, v = conv.float().split([self.key_size, self.key_size, self.value_size], dim=-1)
        q = _l2_normalize(q.reshape(B, L, self.k_heads, self.k_dim)) / self.k_dim**0.5
        k = _l2_normalize(k.reshape(B, L, self.k_heads, self.k_dim))
        if self.v_heads != self.k_heads:  # each key head serves v_heads / k_heads value heads
            q, k = (t.repeat_interleave(self.v_heads // self.k_heads, dim=2) for t in (q, k))
        v = v.reshape(B, L, self.v_heads, self.v_dim)
        # Padded steps decay by 1 and write with weight 0: the state passes through them unchanged.
        b = beta[groups.rows] * groups.valid[..., None]  # [B, L, Hv]
        per_head = decay.shape[2:]  # (): one decay per head; (Dk,): one per key dimension (KDA)
        log_decay = decay[groups.rows] * groups.valid.view(B, L, 1, *(1 for _ in per_head))
        if state is None:
            state = q.new_zeros(B, self.v_heads, self.k_dim, self.v_dim)
        # Heads side by side: [B·Hv, L, D] and [B·Hv, L].
        q, k, v = (t.transpose(1, 2).reshape(B * self.v_heads, L, -1) for t in (q, k, v))
        b = b.transpose(1, 2).reshape(B * self.v_heads, L)
        log_decay = log_decay.transpose(1, 2).reshape(B * self.v_heads, L, *per_head)
        o, state = chunked_delta_rule(q, k, v, b, log_decay, state.reshape(B * self.v_heads, self.k_dim, self.v_dim),
                                      self.chunk_size)
        state = state.view(B, self.v_heads, self.k_dim, self.v_dim)
        o = o.view(B, self.v_heads, L, self.v_dim).transpose(1, 2)  # [B, L, Hv, Dv]
        out.index_copy_(0, groups.rows[groups.valid], o[groups.valid])
        return state


class GatedDeltaNet(DeltaRuleLayer):
    """``linear_attn.*`` of a Qwen3.5 layer (checkpoint names)."""

    beta_scale = 1.0  # OLMo Hybrid's 2 (``linear_allow_neg_eigval``: β in [0, 2])

    def __init__(self, config) -> None:
        super().__init__()
        self.k_heads, self.v_heads = config.linear_num_key_heads, config.linear_num_value_heads
        self.k_dim, self.v_dim = config.linear_key_head_dim, config.linear_value_head_dim
        self.key_size, self.value_size = self.k_heads * self.k_dim, self.v_heads * self.v_dim
        self.kernel = config.linear_conv_kernel_dim
        channels = 2 * self.key_size + self.value_size
        self.eps = config.rms_norm_eps
        self.make_projections(config)
        self.conv1d = nn.Conv1d(channels, channels, self.kernel, groups=channels, bias=False)  # weight [C, 1, K]
        self.dt_bias = nn.Parameter(torch.ones(self.v_heads))
        self.A_log = nn.Parameter(torch.zeros(self.v_heads))
        self.norm = _GatedNormWeight(self.v_dim)
        self.out_proj = Linear(self.value_size, config.hidden_size, bias=False)
        self.chunk_size = 64  # steps per chunk of the delta rule (tests set small ones to cross chunk borders)

    def make_projections(self, config) -> None:
        """Qwen3.5's: ``in_proj_qkv`` ([q | k | v], the convolution's channels), ``in_proj_z``, ``in_proj_b``, ``in_proj_a``."""
        H = config.hidden_size
        self.in_proj_qkv = Linear(H, 2 * self.key_size + self.value_size, bias=False)
        self.in_proj_z = Linear(H, self.value_size, bias=False)
        self.in_proj_b = Linear(H, self.v_heads, bias=False)
        self.in_proj_a = Linear(H, self.v_heads, bias=False)

    def project(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """hidden [T, H] -> (q|k|v [T, C], z [T, value size], b [T, Hv], a [T, Hv])."""
        return self.in_proj_qkv(hidden), self.in_proj_z(hidden), self.in_proj_b(hidden), self.in_proj_a(hidden)

    def forward(self, hidden: torch.Tensor, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        T = hidden.shape[0]
        mixed, z, b, a = self.project(hidden)  # [T, C], [T, Hv·Dv], [T, Hv], [T, Hv]
        beta = torch.sigmoid(b).float() * self.beta_scale  # [T, Hv]
        decay = -self.A_log.float().exp() * F.softplus(a.float() + self.dt_bias.float())  # [T, Hv]
        out = torch.zeros(T, self.v_heads, self.v_dim, dtype=torch.float32, device=hidden.device)
        # β = 0 past a segment's end: those rows write nothing into the state.
        roots_then_items(mixed, plan, self.kernel, lambda x, history, groups, state: self._run(
            x, history, beta, decay, groups, out, state))
        z = z.reshape(T, self.v_heads, self.v_dim)
        normed = F.rms_norm(out, (self.v_dim,), None, self.eps).to(hidden.dtype) * self.norm.weight
        gated = (normed.float() * F.silu(z.float())).to(hidden.dtype)  # [T, Hv, Dv]
        return self.out_proj(gated.reshape(T, self.value_size))

class Qwen3NextGatedDeltaNet(GatedDeltaNet):
    """Qwen3-Next's: the same layer with fused projections whose rows are grouped per key head
    (``in_proj_qkvz``: per key head its q, k, then the v and z of the value heads it serves;
    ``in_proj_ba``: per key head the b, then the a of its value heads). Their rows are put in Qwen3.5's
    order as they load (``Linear.load_row_order``), so one matmul each gives [q | k | v | z] and [b | a]."""

    def make_projections(self, config) -> None:
        H, r = config.hidden_size, self.v_heads // self.k_heads
        parts_qkvz = [self.k_dim, self.k_dim, r * self.v_dim, r * self.v_dim]
        self.in_proj_qkvz = Linear(H, 2 * self.key_size + 2 * self.value_size, bias=False)
        self.in_proj_qkvz.load_row_order = grouped_to_blocked(self.k_heads, parts_qkvz)
        self.in_proj_ba = Linear(H, 2 * self.v_heads, bias=False)
        self.in_proj_ba.load_row_order = grouped_to_blocked(self.k_heads, [r, r])

    def project(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        qkv, z = self.in_proj_qkvz(hidden).split([2 * self.key_size + self.value_size, self.value_size], dim=-1)
        b, a = self.in_proj_ba(hidden).chunk(2, dim=-1)
        return qkv, z, b, a



class _GatedNormWeight(nn.Module):
    """``linear_attn.norm.weight`` [Dv]: the per-head RMSNorm's weight (plain ``w``, not ``1 + w``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))


def _l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(sum(x²) + 1e-6) over the last dim (the reference kernels' form, not F.normalize's max(‖x‖, eps))."""
    return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + 1e-6)


def causal_depthwise_conv(x: torch.Tensor, history: Optional[torch.Tensor], weight: torch.Tensor,
                          bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """x [B, L, C] (channels last), history [B, K-1, C] or None (zeros), weight [C, 1, K], bias [C] ->
    [B, L, C]: out[t] = Σ_i w[:, i] · input[t - K + 1 + i] (+ bias). As a 2-D convolution of height 1
    over the channels-last memory the batch already has, oneDNN's depthwise kernel runs at about the
    speed of a copy (conv1d's layout took ~6x as long); zero history is the convolution's own padding
    (it pads both ends: the last K-1 outputs are dropped)."""
    L, K = x.shape[1], weight.shape[2]
    inputs = x if history is None else torch.cat([history, x], dim=1)
    out = F.conv2d(inputs.transpose(1, 2)[:, :, None, :], weight[:, :, None, :], bias, groups=x.shape[2],
                   padding=(0, K - 1) if history is None else 0)  # [B, C, 1, L (+ K-1)], channels last
    return out[:, :, 0, :L].transpose(1, 2)
