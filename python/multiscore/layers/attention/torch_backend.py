"""Pure-PyTorch attention for packed prefill batches: CPU and GPU, causal and MIS.

Two kinds of work, both without an O(T²) mask over the whole batch:
- causal runs: every plain sequence and every MIS query, padded together into one SDPA call;
- MIS items: per MIS sequence, each segment ``[D, item]`` attends to ``[query KV ; its own KV]``.
  The query's keys/values are computed once and shared by all items; scores against the query
  and against the item are softmaxed jointly (one running max, one denominator), so the cost is
  O(N · L · (Q + L)) instead of O((Q + N·L)²).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from multiscore.layers.attention.base import AttentionBackend, SequenceLayout
from multiscore.model_executor.mis_layout import mis_segments

# Cap on the float32 score buffer of one MIS chunk (bytes); bounds memory for very wide requests.
_MIS_SCORE_BUDGET = 64 * 1024 * 1024


@dataclass
class CausalRuns:
    index: torch.Tensor  # [R, L] flat row of each slot (pad slots repeat the run's first row)
    valid: torch.Tensor  # [R, L] bool
    rows: torch.Tensor  # [n] = index[valid], where the outputs go
    mask: Optional[torch.Tensor]  # [R, 1, L, L] bool; None when every run has length L (plain causal)


@dataclass
class MisGroup:
    prefix_start: int
    prefix_len: int
    index: torch.Tensor  # [S, Lm] flat rows of segment slots
    valid: torch.Tensor  # [S, Lm] bool
    own_mask: torch.Tensor  # [S, Lm, Lm] bool
    chunk: int  # segments per chunk, so scores stay under _MIS_SCORE_BUDGET


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
    mask = None
    if int(lens_t.min()) != max_len:
        causal = slot[None, :] <= slot[:, None]  # [L, L]
        mask = (causal[None] & valid[:, None, :])[:, None]  # [R, 1, L, L]; pad rows still see key 0
        mask = mask.to(device)
    return CausalRuns(index=index.to(device), valid=valid.to(device), rows=index[valid].to(device), mask=mask)


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
            q = seq.query_len
            if q > 0:
                run_starts.append(seq.start)
                run_lens.append(q)
            segs = mis_segments(q, seq.item_lens)
            seg_len = segs.index.shape[1]
            per_segment = self.num_heads * seg_len * (q + seg_len) * 4
            groups.append(
                MisGroup(
                    prefix_start=seq.start,
                    prefix_len=q,
                    index=(segs.index + seq.start).to(self.device),
                    valid=segs.valid.to(self.device),
                    own_mask=segs.own_mask.to(self.device),
                    chunk=max(1, _MIS_SCORE_BUDGET // per_segment),
                )
            )
        return TorchAttentionMetadata(runs=_causal_runs(run_starts, run_lens, self.device), mis_groups=groups)

    def forward(self, q, k, v, metadata: TorchAttentionMetadata, scale: float) -> torch.Tensor:
        out = torch.empty_like(q)  # [T, Hq, D]; every row is written by exactly one run or segment
        if metadata.runs is not None:
            self._causal(q, k, v, metadata.runs, scale, out)
        for group in metadata.mis_groups:
            self._mis_items(q, k, v, group, scale, out)
        return out

    def _causal(self, q, k, v, runs: CausalRuns, scale: float, out: torch.Tensor) -> None:
        if runs.index.shape[0] == 1 and runs.mask is None:
            start, length = int(runs.index[0, 0]), runs.index.shape[1]
            sl = slice(start, start + length)
            # [1, H, L, D]
            o = F.scaled_dot_product_attention(
                q[sl].transpose(0, 1)[None], k[sl].transpose(0, 1)[None], v[sl].transpose(0, 1)[None],
                is_causal=True, scale=scale, enable_gqa=True,
            )
            out[sl] = o[0].transpose(0, 1)
            return
        qr, kr, vr = (x[runs.index].transpose(1, 2) for x in (q, k, v))  # [R, H, L, D]
        o = F.scaled_dot_product_attention(
            qr, kr, vr, attn_mask=runs.mask, is_causal=runs.mask is None, scale=scale, enable_gqa=True
        )
        out[runs.rows] = o.transpose(1, 2)[runs.valid]  # [n, H, D]

    def _mis_items(self, q, k, v, group: MisGroup, scale: float, out: torch.Tensor) -> None:
        hkv, dim = self.num_kv_heads, self.head_dim
        g = self.num_heads // hkv
        p0, plen = group.prefix_start, group.prefix_len
        k_pre = k[p0 : p0 + plen].permute(1, 2, 0)  # [Hkv, D, Q]
        v_pre = v[p0 : p0 + plen].transpose(0, 1)  # [Hkv, Q, D]
        for s0 in range(0, group.index.shape[0], group.chunk):
            index = group.index[s0 : s0 + group.chunk]  # [S, L]
            S, L = index.shape
            qs = (q[index] * scale).view(S, L, hkv, g, dim).permute(2, 0, 3, 1, 4)  # [Hkv, S, g, L, D]
            ks = k[index].permute(2, 0, 3, 1).unsqueeze(2)  # [Hkv, S, 1, D, L]
            vs = v[index].permute(2, 0, 1, 3).unsqueeze(2)  # [Hkv, S, 1, L, D]
            s_own = torch.matmul(qs, ks).float()  # [Hkv, S, g, L, L]
            s_own = s_own.masked_fill(~group.own_mask[s0 : s0 + S][None, :, None], float("-inf"))
            row_max = s_own.amax(-1)  # [Hkv, S, g, L]
            if plen > 0:
                s_pre = torch.matmul(qs.reshape(hkv, S * g * L, dim), k_pre).float().view(hkv, S, g, L, plen)
                row_max = torch.maximum(row_max, s_pre.amax(-1))
            p_own = torch.exp(s_own - row_max[..., None])
            denom = p_own.sum(-1)
            o = torch.matmul(p_own.to(v.dtype), vs)  # [Hkv, S, g, L, D]
            if plen > 0:
                p_pre = torch.exp(s_pre - row_max[..., None])
                denom = denom + p_pre.sum(-1)
                o = o + torch.matmul(p_pre.to(v.dtype).view(hkv, S * g * L, plen), v_pre).view(hkv, S, g, L, dim)
            o = (o / denom[..., None].to(o.dtype)).permute(1, 3, 0, 2, 4).reshape(S, L, hkv * g, dim)
            valid = group.valid[s0 : s0 + S]
            out[index[valid]] = o[valid]
