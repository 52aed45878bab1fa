"""DeBERTa's disentangled self-attention over a packed batch.

Each score adds two relative-position terms to content·content:

    s[i, j] = (q_i·k_j + q_i·Kr[d] + k_j·Qr[d]) / sqrt(D · (1 + terms listed)),  d = idx(i - j)

with Kr / Qr the relative embeddings projected by the key / query projections (or their own
``pos_key_proj`` / ``pos_query_proj``), and idx the (log-bucketed) relative distance shifted into
[0, 2·span). These terms depend on content, so no fused kernel takes them: sequences of similar
length are padded into chunks (as the torch backend's runs) and scored explicitly, each chunk's
[b, H, L, L] scores built once. No O(T²) mask over the whole packed batch.
"""

from __future__ import annotations

import torch


def log_bucket(relative: torch.Tensor, buckets: int, max_position: int) -> torch.Tensor:
    """Relative distances -> DeBERTa's buckets: exact within buckets // 2, logarithmic beyond."""
    mid = buckets // 2
    sign = torch.sign(relative)
    near = (relative < mid) & (relative > -mid)
    magnitude = torch.where(near, torch.full_like(relative, mid - 1), relative.abs()).float()
    # float32 logs on both sides, as transformers computes them: a double-precision denominator
    # moves distances that fall exactly on a bucket edge (7 with 4 buckets over 8 positions).
    span_log = torch.log(torch.tensor((max_position - 1) / mid, device=relative.device))
    log_pos = torch.ceil(torch.log(magnitude / mid) / span_log * (mid - 1)) + mid
    return torch.where(magnitude <= mid, relative.float(), log_pos * sign).long()


class RelativePositions:
    """The relative-distance index of a chunk's [L, L] scores, built once per forward and length and
    shared by every layer."""

    def __init__(self, buckets: int, max_relative: int, span: int) -> None:
        self.buckets, self.max_relative, self.span = buckets, max_relative, span
        self._cache: dict[tuple[int, torch.device], tuple[torch.Tensor, slice]] = {}

    def index(self, length: int, device: torch.device) -> tuple[torch.Tensor, slice]:
        """-> (idx [L, L] long, rows): idx + rows.start = clamp(bucket(i - j) + span, 0, 2·span - 1),
        ``rows`` the relative embeddings' rows that distances under L reach (a short sequence
        needs a few of DeBERTa-v3's 512: the c2p / p2c products only take those)."""
        key = (length, device)
        if key not in self._cache:
            pos = torch.arange(length, device=device)
            relative = pos[:, None] - pos[None, :]
            if self.buckets > 0 and self.max_relative > 0:
                relative = log_bucket(relative, self.buckets, self.max_relative)
            idx = (relative + self.span).clamp(0, 2 * self.span - 1)
            lo, hi = int(idx.min()), int(idx.max()) + 1
            self._cache[key] = (idx - lo, slice(lo, hi))
        return self._cache[key]


def disentangled_attention(q, k, v, pos_q, pos_k, chunks, positions: RelativePositions, scale: float) -> torch.Tensor:
    """q/k/v [T, H, D]; pos_q / pos_k [2·span, H, D] or None (that term is off); ``chunks`` from
    ``sequence_chunks`` (sequence_chunks.py) -> [T, H, D]."""
    out = torch.empty_like(q)
    for index, valid in chunks:
        b, length = index.shape
        qc, kc, vc = (x[index].transpose(1, 2) for x in (q, k, v))  # [b, H, L, D]
        scores = torch.matmul(qc, kc.transpose(-1, -2))  # [b, H, L, L]
        idx, rows = positions.index(length, q.device)  # [L, L], the R relative rows it reads
        if pos_k is not None:  # content -> position: q_i · Kr[idx(i, j)]
            c2p = torch.matmul(qc, pos_k[rows].permute(1, 2, 0))  # [b, H, L, R]
            scores = scores + torch.gather(c2p, -1, idx.expand(b, c2p.shape[1], length, length))
        if pos_q is not None:  # position -> content: k_j · Qr[idx(i, j)], gathered along j's rows
            p2c = torch.matmul(kc, pos_q[rows].permute(1, 2, 0))  # [b, H, L (keys), R]
            scores = scores + torch.gather(p2c, -1, idx.t().expand(b, p2c.shape[1], length, length)).transpose(-1, -2)
        scores = (scores.float() * scale).masked_fill(~valid[:, None, None, :], float("-inf"))
        probs = torch.softmax(scores, -1).to(vc.dtype)
        o = torch.matmul(probs, vc).transpose(1, 2)  # [b, L, H, D]
        out[index[valid]] = o[valid]
    return out
