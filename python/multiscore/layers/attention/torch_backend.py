"""Pure-PyTorch attention for packed prefill batches: CPU and GPU, causal and MIS.

Two kinds of work, both without an O(T²) mask over the whole batch:
- causal runs: every plain sequence and every MIS query, padded together into one SDPA call;
- MIS items: per MIS sequence, each item attends to ``[query KV ; its own KV]``. The query's
  keys/values are computed once and shared by all items. The two parts are computed separately,
  each by a fused attention kernel that also returns its log-sum-exp — (A) every item token
  against the query, one non-causal call over all items' rows; (B) every item causally against
  itself, one batched call — and merged exactly: ``o = o_B + sigmoid(lse_A - lse_B) · (o_A - o_B)``.
  Cost O(N · L · (Q + L)) instead of O((Q + N·L)²).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from multiscore.layers.attention.base import AttentionBackend, SequenceLayout
from multiscore.layers.attention.lse_attention import attention_with_lse


@dataclass
class CausalRuns:
    index: torch.Tensor  # [R, L] flat row of each slot (pad slots repeat the run's first row)
    valid: torch.Tensor  # [R, L] bool
    rows: torch.Tensor  # [n] = index[valid], where the outputs go
    mask: Optional[torch.Tensor]  # [R, 1, L, L] bool; None when every run has length L (plain causal)
    # First row when the runs lie back to back with one length: q/k/v are then viewed, not gathered.
    contiguous_start: Optional[int] = None


@dataclass
class MisGroup:
    """One MIS sequence's items (empty items have no rows and are left out)."""

    prefix_start: int
    prefix_len: int
    item_index: torch.Tensor  # [N', Lmax] flat rows of item tokens, padded with the item's first row
    item_valid: torch.Tensor  # [N', Lmax] bool
    item_rows: torch.Tensor  # [R] = item_index[item_valid]
    delim_rows: torch.Tensor  # [N + 1] flat rows of the delimiters (they see only the query)


@dataclass
class TorchAttentionMetadata:
    runs: Optional[CausalRuns]
    mis_groups: list[MisGroup]


def _causal_runs(starts: list[int], lens: list[int], device: torch.device) -> Optional[CausalRuns]:
    if not starts:
        return None
    lens_t = torch.tensor(lens)
    max_len = int(lens_t.max())
    slot = torch.arange(max_len)
    valid = slot[None, :] < lens_t[:, None]  # [R, L]
    index = torch.tensor(starts)[:, None] + torch.where(valid, slot[None, :], 0)
    mask, contiguous_start = None, None
    starts_t = torch.tensor(starts)
    if int(lens_t.min()) != max_len:
        causal = slot[None, :] <= slot[:, None]  # [L, L]
        mask = (causal[None] & valid[:, None, :])[:, None]  # [R, 1, L, L]; pad rows still see key 0
        mask = mask.to(device)
    elif torch.equal(starts_t - starts_t[0], torch.arange(len(starts)) * max_len):
        contiguous_start = starts[0]
    return CausalRuns(
        index=index.to(device), valid=valid.to(device), rows=index[valid].to(device), mask=mask,
        contiguous_start=contiguous_start,
    )


def _mis_group(seq: SequenceLayout, device: torch.device) -> MisGroup:
    q, lens = seq.query_len, seq.item_lens
    first = seq.start + q + 1 + torch.cumsum(lens + 1, 0) - (lens + 1)  # [N] row of each item's first token
    delim_rows = torch.cat([first - 1, (seq.start + seq.length - 1) * torch.ones(1, dtype=torch.long)])
    nonempty = lens > 0
    first, lens = first[nonempty], lens[nonempty]
    max_len = int(lens.max()) if len(lens) else 0
    slot = torch.arange(max_len)
    valid = slot[None, :] < lens[:, None]
    index = first[:, None] + torch.where(valid, slot[None, :], 0)
    return MisGroup(
        prefix_start=seq.start, prefix_len=q, item_index=index.to(device), item_valid=valid.to(device),
        item_rows=index[valid].to(device), delim_rows=delim_rows.to(device),
    )


class TorchAttentionBackend(AttentionBackend):
    name = "torch"

    def __init__(self, device: torch.device, dtype: torch.dtype, num_heads: int, num_kv_heads: int, head_dim: int) -> None:
        super().__init__(device, dtype)
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim

    def build_metadata(self, layouts: list[SequenceLayout], num_tokens: int) -> TorchAttentionMetadata:
        run_starts, run_lens, groups = [], [], []
        for seq in layouts:
            if seq.query_len is None:
                run_starts.append(seq.start)
                run_lens.append(seq.length)
                continue
            if seq.query_len > 0:
                run_starts.append(seq.start)
                run_lens.append(seq.query_len)
            groups.append(_mis_group(seq, self.device))
        return TorchAttentionMetadata(runs=_causal_runs(run_starts, run_lens, self.device), mis_groups=groups)

    def forward(self, q, k, v, metadata: TorchAttentionMetadata, scale: float) -> torch.Tensor:
        out = torch.empty_like(q)  # [T, Hq, D]; every row is written by exactly one run, item or delimiter
        if metadata.runs is not None:
            self._causal(q, k, v, metadata.runs, scale, out)
        for group in metadata.mis_groups:
            self._mis_items(q, k, v, group, scale, out)
        return out

    def _causal(self, q, k, v, runs: CausalRuns, scale: float, out: torch.Tensor) -> None:
        if runs.contiguous_start is not None:
            n_runs, length = runs.index.shape
            sl = slice(runs.contiguous_start, runs.contiguous_start + n_runs * length)
            qr, kr, vr = (x[sl].view(n_runs, length, x.shape[1], x.shape[2]).transpose(1, 2) for x in (q, k, v))
            o = F.scaled_dot_product_attention(qr, kr, vr, is_causal=True, scale=scale, enable_gqa=True)
            out[sl] = o.transpose(1, 2).reshape(n_runs * length, q.shape[1], q.shape[2])  # [R·L, H, D]
            return
        qr, kr, vr = (x[runs.index].transpose(1, 2) for x in (q, k, v))  # [R, H, L, D]
        o = F.scaled_dot_product_attention(
            qr, kr, vr, attn_mask=runs.mask, is_causal=runs.mask is None, scale=scale, enable_gqa=True
        )
        out[runs.rows] = o.transpose(1, 2)[runs.valid]  # [n, H, D]

    def _mis_items(self, q, k, v, group: MisGroup, scale: float, out: torch.Tensor) -> None:
        hq, hkv, dim = self.num_heads, self.num_kv_heads, self.head_dim
        g = hq // hkv
        n_items = group.item_rows.shape[0]
        if group.prefix_len == 0:
            # Nothing to attend to but themselves: delimiters copy their own value (never read).
            out[group.delim_rows] = v[group.delim_rows].repeat_interleave(g, 1)
        else:
            # (A) item tokens and delimiters against the query, GQA folded into rows: [1, Hkv, g·R', D].
            p0 = group.prefix_start
            rows = torch.cat([group.item_rows, group.delim_rows])
            r = rows.shape[0]
            qa = q[rows].view(r, hkv, g, dim).permute(1, 2, 0, 3).reshape(1, hkv, g * r, dim)
            k_pre = k[p0 : p0 + group.prefix_len].transpose(0, 1)[None]  # [1, Hkv, Q, D]
            v_pre = v[p0 : p0 + group.prefix_len].transpose(0, 1)[None]
            oa, lse_a = attention_with_lse(qa, k_pre, v_pre, causal=False, scale=scale)
            oa = oa.reshape(hq, r, dim).transpose(0, 1)  # [R', Hq, D]
            lse_a = lse_a.reshape(hq, r).transpose(0, 1)  # [R', Hq]
            out[group.delim_rows] = oa[n_items:]
        if n_items == 0:
            return
        # (B) each item causally against its own tokens: [N', Hq, Lmax, D], pad slots at the end.
        index = group.item_index
        qb = q[index].transpose(1, 2)
        kb = k[index].transpose(1, 2).repeat_interleave(g, 1)
        vb = v[index].transpose(1, 2).repeat_interleave(g, 1)
        ob, lse_b = attention_with_lse(qb, kb, vb, causal=True, scale=scale)
        ob = ob.transpose(1, 2)[group.item_valid]  # [R, Hq, D]
        if group.prefix_len == 0:
            out[group.item_rows] = ob
            return
        lse_b = lse_b.transpose(1, 2)[group.item_valid]  # [R, Hq]
        # softmax over [query ; own] = weighted mix of the two partial softmaxes.
        w = torch.sigmoid(lse_a[:n_items] - lse_b).to(ob.dtype)[..., None]
        out[group.item_rows] = ob + w * (oa[:n_items] - ob)
