"""Attention for the few rows a scoring pass reads (torch backend).

A model's last layer is read at R << T rows: each MIS item's last token, each sequence's last (or
first) token. Every row still gives its keys and values, but only the read rows need attention
outputs; on W1 (2-core AMX Xeon, bf16) the last layer's whole attention is 6-8 % of an MIS pass and
5-6 % of single-item scoring.

``row_plan`` maps the read rows onto the batch's metadata; it returns None (and the backend computes
every row, then selects) for anything but these two kinds of read:
- one row per plain run (a sequence, or an MIS query): that row against its run's keys (causal: up
  to itself; bidirectional: the first ``key_len``), in the run's padded block under a key bias;
- item tokens of MIS sequences: (A) against their query's keys, bucket by bucket, and (B) against
  their own item's tokens up to themselves, merged by log-sum-exp as the full pass merges them.
Cached prefixes, empty queries, soft-capped scores, sliding windows and sinks take the full pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from multiscore.layers.attention.lse_attention import attention_with_lse, merge_partials
from multiscore.layers.attention.padded_rows import block_lse_rows, block_rows, gather_block, key_bias, valid_positions


@dataclass
class RunReads:
    """Read rows in one RunChunk: one per run."""

    chunk: int  # index into the metadata's runs
    runs: torch.Tensor  # [n] the runs (rows of RunChunk.index) they sit in
    rows: torch.Tensor  # [n] their flat rows
    out_pos: torch.Tensor  # [n] their places in the output
    key_bias: torch.Tensor  # [n, 1, 1, L] float32, 0 / -inf: the keys each row sees


@dataclass
class BucketReads:
    """Read item rows of one PrefixBucket, padded per sequence to [G, r]."""

    bucket: int  # index into the metadata's buckets
    index: torch.Tensor  # [G, r] flat rows (pads repeat a row of the same sequence)
    valid_pos: Optional[torch.Tensor]  # [n] valid slots of the flattened [G·r]; None: all
    order: torch.Tensor  # [n] each valid slot's place among ItemReads.rows


@dataclass
class ItemReads:
    rows: torch.Tensor  # [n] flat rows of the read item tokens
    out_pos: torch.Tensor  # [n] their places in the output
    items: torch.Tensor  # [n] their items (rows of MisItems.index)
    own_bias: torch.Tensor  # [n, 1, 1, Lmax] float32: the item's tokens up to the read one
    buckets: list[BucketReads]


@dataclass
class RowPlan:
    runs: list[RunReads]
    items: Optional[ItemReads]


def _place(where: torch.Tensor, rows: torch.Tensor, positions: Optional[torch.Tensor]) -> torch.Tensor:
    """Writes each of ``rows``' position in its block (``positions``; None: 0, 1, ...) into the map ``where`` [T]."""
    where[rows] = positions if positions is not None else torch.arange(len(rows), device=where.device)
    return where


def _locate(total: int, rows: torch.Tensor, positions: Optional[torch.Tensor], device) -> torch.Tensor:
    """[T] -> each flat row's position in a block (-1 where ``rows`` does not hold it)."""
    return _place(torch.full((total,), -1, dtype=torch.long, device=device), rows, positions)


def row_plan(meta, rows: torch.Tensor, total_rows: int) -> Optional[RowPlan]:
    """The torch backend's metadata and the read rows [R] -> a plan, or None (compute every row)."""
    if meta.prefixed or meta.lone_delims is not None or len(rows) == 0:
        return None
    device = rows.device
    out_pos = torch.arange(len(rows), device=device)
    covered = torch.zeros(len(rows), dtype=torch.bool, device=device)
    # Every run row's chunk and position in its [b·L] block, in one map for all chunks.
    chunk_of = torch.full((total_rows,), -1, dtype=torch.long, device=device)
    pos_of = torch.full((total_rows,), -1, dtype=torch.long, device=device)
    for ci, chunk in enumerate(meta.runs):
        chunk_of[chunk.rows] = ci
        _place(pos_of, chunk.rows, chunk.valid_pos)
    read_chunk, read_pos = chunk_of[rows], pos_of[rows]  # [R], -1 outside every run
    run_reads = []
    for ci in torch.unique(read_chunk[read_chunk >= 0]).tolist():
        chunk = meta.runs[ci]
        length = chunk.index.shape[1]
        hit = read_chunk == ci
        runs, slot = read_pos[hit] // length, read_pos[hit] % length
        if len(torch.unique(runs)) != len(runs):
            return None  # several reads in one run: the full pass
        key_slot = torch.arange(length, device=device)
        visible = key_slot[None, :] <= slot[:, None] if chunk.causal else chunk.key_valid[runs]
        run_reads.append(RunReads(ci, runs, rows[hit], out_pos[hit], key_bias(visible)))
        covered |= hit
    items = None
    if meta.items is not None:
        items = _item_reads(meta, rows, out_pos, total_rows)
        if items is None:
            return None
        covered[items.out_pos] = True
    if not bool(covered.all()):
        return None  # a delimiter row, or a row in no block
    return RowPlan(run_reads, items)


def _item_reads(meta, rows: torch.Tensor, out_pos: torch.Tensor, total_rows: int) -> Optional[ItemReads]:
    device = rows.device
    items = meta.items
    length = items.index.shape[1]
    where = _locate(total_rows, items.rows, items.valid_pos, device)[rows]
    hit = where >= 0
    if not bool(hit.any()):
        return ItemReads(rows[:0], out_pos[:0], rows[:0], torch.zeros(0, 1, 1, length, device=device), [])
    item_rows, item, slot = rows[hit], where[hit] // length, where[hit] % length
    visible = torch.arange(length, device=device)[None, :] <= slot[:, None]  # [n, Lmax]
    own_bias = key_bias(visible)
    buckets, placed = [], 0
    for bi, b in enumerate(meta.buckets):
        width = b.row_index.shape[1]
        flat = b.row_index.reshape(-1)
        valid_rows = flat if b.row_valid_pos is None else flat.index_select(0, b.row_valid_pos)
        at = _locate(total_rows, valid_rows, b.row_valid_pos, device)[item_rows]  # position in [G·Rmax] or -1
        in_bucket = (at >= 0).nonzero()[:, 0]  # [m] which item reads this bucket holds
        if not len(in_bucket):
            continue
        seq = at[in_bucket] // width  # [m] their sequence in the bucket
        order = torch.argsort(seq, stable=True)
        in_bucket, seq = in_bucket[order], seq[order]
        counts = torch.bincount(seq, minlength=b.row_index.shape[0])  # [G]
        slot_in_seq = torch.arange(len(seq), device=device) - (torch.cumsum(counts, 0) - counts)[seq]
        r = int(counts.max())
        index = b.row_index[:, :1].expand(-1, r).clone()  # pads: the sequence's first row
        index[seq, slot_in_seq] = item_rows[in_bucket]
        valid = torch.zeros(index.shape, dtype=torch.bool, device=device)
        valid[seq, slot_in_seq] = True
        buckets.append(BucketReads(bi, index, valid_positions(valid, device), in_bucket))
        placed += len(in_bucket)
    if placed != len(item_rows):
        return None  # an item read outside every bucket
    return ItemReads(item_rows, out_pos[hit], item, own_bias, buckets)


def attend_rows(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, meta, plan: RowPlan, scale: float,
                num_rows: int) -> torch.Tensor:
    """q [T, Hq, D], k/v [T, Hkv, D] -> [num_rows, Hq, D]: the plan's read rows, in the order given."""
    out = q.new_empty(num_rows, q.shape[1], q.shape[2])
    for reads in plan.runs:
        index = meta.runs[reads.chunk].index.index_select(0, reads.runs)  # [n, L]
        kb, vb = gather_block(k, index), gather_block(v, index)  # [n, Hkv, L, D]
        qr = q.index_select(0, reads.rows)[:, :, None, :]  # [n, Hq, 1, D]
        o, _ = attention_with_lse(qr, kb, vb, causal=False, scale=scale, key_bias=reads.key_bias.to(q.dtype))
        out.index_copy_(0, reads.out_pos, o[:, :, 0])
    reads = plan.items
    if reads is not None and len(reads.rows):
        # (B) each read token against its own item's tokens up to itself: [n, Hq, 1, D] vs [n, Hkv, Lmax, D].
        index = meta.items.index.index_select(0, reads.items)
        qr = q.index_select(0, reads.rows)[:, :, None, :]
        ob, lse_b = attention_with_lse(qr, gather_block(k, index), gather_block(v, index), causal=False, scale=scale,
                                       key_bias=reads.own_bias.to(q.dtype))
        ob, lse_b = ob[:, :, 0], lse_b[:, :, 0]  # [n, Hq, D], [n, Hq]
        # (A) against their query's keys, bucket by bucket: [G, Hq, r, D] vs [G, Hkv, Qmax, D].
        oa, lse_a = torch.empty_like(ob), torch.empty_like(lse_b)
        for br in reads.buckets:
            b = meta.buckets[br.bucket]
            bias = None if b.key_bias is None else b.key_bias.to(q.dtype)
            o, lse = attention_with_lse(gather_block(q, br.index), gather_block(k, b.key_index),
                                        gather_block(v, b.key_index), causal=False, scale=scale, key_bias=bias)
            oa.index_copy_(0, br.order, block_rows(o, br.valid_pos))
            lse_a.index_copy_(0, br.order, block_lse_rows(lse, br.valid_pos))
        out.index_copy_(0, reads.out_pos, merge_partials(ob, oa, lse_a, lse_b))
    return out
