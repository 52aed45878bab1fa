"""Pure-PyTorch attention for packed prefill batches: CPU and GPU; causal, bidirectional and MIS.

Two kinds of work, both without an O(T²) mask over the whole batch:
- runs: every plain sequence and every MIS query, sorted by length and padded, 16 at a time, into
  one SDPA call each (causal for decoders, bidirectional for encoders);
- MIS items: per MIS sequence, each item attends to ``[query KV ; its own KV]``. The query's
  keys/values are computed once and shared by all items. The two parts are computed separately,
  each by a fused attention kernel that also returns its log-sum-exp — (A) every item token
  against the query, one non-causal call over all items' rows; (B) every item causally against
  itself, one batched call — and merged exactly: ``o = o_B + sigmoid(lse_A - lse_B) · (o_A - o_B)``.
  Cost O(N · L · (Q + L)) instead of O((Q + N·L)²).

Per layer, two options change the scores: ``softcap`` (Gemma2: cap · tanh(scores / cap)) and a
sliding ``window`` (a token at position p sees keys at positions > p - window; in bidirectional
runs, keys with |p - k| < window, and with ``first_key_global`` the sequence's first key too: Longformer's global
token). Either sends the calls it affects to the portable path with an explicit mask; MIS rows carry their single-item
positions (item token t at query_len + t), so a window hides the same query keys as when the
item is scored alone. GPT-OSS's ``sinks`` (a logit per head in each softmax's denominator) scale an
output by σ(lse − sink), so they take the log-sum-exp path too; under MIS, by the merged lse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from multiscore.layers.attention.base import AttentionBackend, SequenceLayout
from multiscore.layers.attention.lse_attention import attention_with_lse, merge_item_attention, merge_partials, with_sinks
from multiscore.layers.attention.padded_rows import (
    aligned_length, block_lse_rows, block_rows, gather_block, key_bias, valid_positions,
)
from multiscore.layers.attention.prefixed_runs import PrefixedRuns, attend_prefixed, prefixed_run_chunks
from multiscore.layers.attention.read_rows import attend_rows, row_plan


# Runs per SDPA call. Runs of similar length share a call, so the padding (and the [b, H, L, L]
# scores) stay small. 16 rather than sentence-transformers' 64: less padding, and CPU flash
# attention gains nothing from wider calls (E2 rerank, MiniLM, bf16: 409 -> 326 ms per request;
# E1: 1433 -> 1377 ms; benchmark/README.md).
_RUNS_PER_CALL = 16
# In a call whose runs differ in length, runs at least this long leave it for a call each (no
# padding but the CPU's alignment, ``aligned_length``). Grouping pays for short runs,
# where a call's overhead outweighs their padding, and for runs of one length (no mask); not for long
# mixed ones. One attention layer, grouped -> with this rule (benchmark/bench_run_grouping.py, 2 AVX2
# cores): 32 runs of 100..512 tokens 2.07x faster, 64 of 52..402 1.34x, 64 of 30..120 1.10x, causal
# runs of 260..290 1.11x; short runs unchanged (a threshold of 32 made 256 runs of 24..64 0.85x).
_SOLO_RUN_LEN = 64


@dataclass
class RunChunk:
    """Runs (plain sequences, MIS queries) of similar length, padded to [b, L] for one SDPA call."""

    index: torch.Tensor  # [b, L] flat row of each slot (pad slots repeat the run's first row)
    rows: torch.Tensor  # [n] flat rows of the valid slots, where the outputs go
    valid_pos: Optional[torch.Tensor]  # [n] positions of the valid slots in [b·L]; None: all valid
    causal: bool
    # Bidirectional runs with a padded slot or a key limit: [b, 1, 1, L] (key_valid). Otherwise None:
    # a causal run's padding comes after its tokens, where causal attention never looks.
    mask: Optional[torch.Tensor]
    key_valid: torch.Tensor  # [b, L] bool: real keys within each run's key_len (bidirectional)
    # First row when the runs lie back to back with one length: q/k/v are then viewed, not gathered.
    contiguous_start: Optional[int] = None


@dataclass
class MisItems:
    """Every non-empty item of every MIS sequence in the batch, padded to the longest item."""

    index: torch.Tensor  # [N', Lmax] flat rows of item tokens, pad slots repeat the item's first row
    rows: torch.Tensor  # [R] flat rows of the valid slots, grouped by sequence
    valid_pos: Optional[torch.Tensor]  # [R] positions of the valid slots in [N'·Lmax]; None: all valid


@dataclass
class PrefixBucket:
    """G MIS sequences whose item tokens and delimiters attend to their own query, in one call.

    Rows and keys are padded per sequence to [G, Rmax] and [G, Qmax]; padded keys are hidden by
    ``key_bias``. Sequences are bucketed only while padding at most doubles the work.
    """

    row_index: torch.Tensor  # [G, Rmax] flat rows (items' tokens, then delimiters)
    row_valid: torch.Tensor  # [G, Rmax] bool
    row_valid_pos: Optional[torch.Tensor]  # positions of the valid rows in [G·Rmax]; None: all valid
    key_index: torch.Tensor  # [G, Qmax] flat rows of each query's tokens
    key_bias: Optional[torch.Tensor]  # [G, 1, 1, Qmax] 0 / -inf; None when no key is padded
    key_valid: torch.Tensor  # [G, Qmax] bool
    row_pos: torch.Tensor  # [G, Rmax] position of each row (sliding windows compare it with key positions 0..Q-1)
    item_src: torch.Tensor  # positions (in the valid rows) that are item tokens ...
    item_dst: torch.Tensor  # ... and where they sit in MisItems.rows
    delim_src: torch.Tensor  # positions (in the valid rows) that are delimiters ...
    delim_rows: torch.Tensor  # ... and their flat rows
    # (first, count) when the valid rows start with MisItems.rows[first : first + count], in order
    # (one sequence per bucket): its items' outputs are then a slice, not a scatter.
    item_range: Optional[tuple[int, int]] = None


@dataclass
class WindowMasks:
    """One sliding window's masks for a batch (True = visible); None where the window hides nothing."""

    runs: list[Optional[torch.Tensor]]  # per RunChunk: [b, 1, L, L], causal, windowed, real keys
    buckets: list[Optional[torch.Tensor]]  # per PrefixBucket: [G, 1, Rmax, Qmax], real keys
    items: Optional[torch.Tensor]  # [1, 1, Lmax, Lmax], causal and windowed

    @property
    def hides_nothing(self) -> bool:
        """No sequence of the batch is long enough for the window to hide a key."""
        return self.items is None and all(m is None for m in self.runs) and all(m is None for m in self.buckets)


@dataclass
class TorchAttentionMetadata:
    runs: list[RunChunk]
    items: Optional[MisItems]
    buckets: list[PrefixBucket]
    lone_delims: Optional[torch.Tensor]  # delimiter rows of empty queries: they attend to themselves
    prefixed: list[PrefixedRuns] = field(default_factory=list)  # runs whose first tokens are cached
    # (window, first_key_global) -> its masks, built by the first sliding layer and reused by the others.
    window_masks: dict[tuple[int, bool], WindowMasks] = field(default_factory=dict)


def _run_chunks(starts: list[int], lens: list[int], key_lens: list[int], causal: bool,
                device: torch.device) -> list[RunChunk]:
    """``key_lens``: per run, the keys every token attends to (its length unless it limits them)."""
    if not starts:
        return []
    starts_t, lens_t, key_lens_t = torch.tensor(starts), torch.tensor(lens), torch.tensor(key_lens)
    order = torch.argsort(lens_t, stable=True)
    groups = []
    for idx in order.split(_RUNS_PER_CALL):
        if torch.equal(lens_t[idx], key_lens_t[idx]) and int(lens_t[idx].min()) == int(lens_t[idx].max()):
            groups.append(idx)  # one length: no mask
            continue
        long = lens_t[idx] >= _SOLO_RUN_LEN
        groups += ([idx[~long]] if bool((~long).any()) else []) + (list(idx[long].split(1)) if bool(long.any()) else [])
    return [_run_chunk(starts_t[idx], lens_t[idx], key_lens_t[idx], causal, device) for idx in groups]


def _run_chunk(starts: torch.Tensor, lens: torch.Tensor, key_lens: torch.Tensor, causal: bool,
               device: torch.device) -> RunChunk:
    length = aligned_length(int(lens.max()), device)  # slots per run: its tokens, then padding
    slot = torch.arange(length)
    valid = slot[None, :] < lens[:, None]  # [b, L]
    key_valid = slot[None, :] < key_lens[:, None]  # [b, L]
    index = starts[:, None] + torch.where(valid, slot[None, :], 0)
    mask, contiguous_start = None, None
    if not causal and not bool(key_valid.all()):
        mask = key_valid[:, None, None, :].to(device)  # [b, 1, 1, L]
    elif bool(valid.all()) and torch.equal(starts - starts[0], torch.arange(len(starts)) * length):
        contiguous_start = int(starts[0])
    return RunChunk(
        index=index.to(device), rows=index[valid].to(device), valid_pos=valid_positions(valid, device), causal=causal, mask=mask, key_valid=key_valid.to(device),
        contiguous_start=contiguous_start,
    )


def _padded(rows: list[torch.Tensor], width: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged 1-D row lists -> [G, width] index (pads repeat the list's first row) and validity
    (``width`` None: the longest list's)."""
    lens = torch.tensor([len(r) for r in rows])
    valid = torch.arange(width or int(lens.max()))[None, :] < lens[:, None]
    index = torch.stack([r[0].expand(valid.shape[1]) for r in rows]).clone()
    index[valid] = torch.cat(rows)
    return index, valid


def _prefix_bucket(rows, dst, keys, positions, device) -> PrefixBucket:
    row_index, row_valid = _padded(rows)
    row_pos, _ = _padded(positions)
    key_index, key_valid = _padded(keys, aligned_length(max(len(k) for k in keys), device))
    dst = torch.cat(dst)  # item slot -> position in MisItems.rows; -1 for delimiters
    is_item = dst >= 0
    bias = None if bool(key_valid.all()) else key_bias(key_valid)
    flat = row_index[row_valid]
    item_src, item_dst = is_item.nonzero()[:, 0], dst[is_item]
    item_range = None
    n = len(item_src)
    if len(rows) == 1 and (n == 0 or torch.equal(item_dst - item_dst[0], item_src)):
        item_range = (int(item_dst[0]) if n else 0, n)
    return PrefixBucket(
        row_index=row_index.to(device), row_valid=row_valid.to(device),
        row_valid_pos=valid_positions(row_valid, device), key_index=key_index.to(device),
        key_bias=None if bias is None else bias.to(device), key_valid=key_valid.to(device),
        row_pos=row_pos.to(device), item_src=item_src.to(device), item_dst=item_dst.to(device),
        delim_src=(~is_item).nonzero()[:, 0].to(device), delim_rows=flat[~is_item].to(device), item_range=item_range,
    )



def _mis_layout(seqs: list[SequenceLayout], device: torch.device, total_rows: int):
    """``total_rows``: the batch's T; cached query keys sit at T + cached_start in [batch k ; cached k]."""
    firsts, lens_all, lone = [], [], []
    rows, dst, keys, positions = [], [], [], []  # per sequence with a non-empty query
    num_item_rows = 0
    for seq in seqs:
        q, lens = seq.query_len, seq.item_lens
        first = seq.start + q + 1 + torch.cumsum(lens + 1, 0) - (lens + 1)  # [N] first row of each item
        delims = torch.cat([first - 1, torch.tensor([seq.start + seq.length - 1])])  # [N + 1]
        item_rows = torch.repeat_interleave(first, lens) + _offsets_within(lens)  # [sum(lens)]
        if q == 0:
            lone.append(delims)
        else:
            rows.append(torch.cat([item_rows, delims]))
            dst.append(torch.cat([torch.arange(num_item_rows, num_item_rows + len(item_rows)),
                                  torch.full((len(delims),), -1)]))
            cached = torch.arange(total_rows + seq.cached_start, total_rows + seq.cached_start + seq.cached_len)
            keys.append(torch.cat([cached, torch.arange(seq.start, seq.start + q)]))  # in position order
            # Item token t (0-based) sits at position Q + t, as in its single-item sequence (Q: the whole
            # query, cached tokens included); delimiters at Q - 1.
            full_q = q + seq.cached_len
            positions.append(torch.cat([full_q + _offsets_within(lens), torch.full((len(delims),), full_q - 1)]))
        num_item_rows += len(item_rows)
        firsts.append(first[lens > 0])
        lens_all.append(lens[lens > 0])
    items = None
    lens = torch.cat(lens_all)
    if len(lens):
        slot = torch.arange(aligned_length(int(lens.max()), device))  # causal: the padding after each item is never seen
        valid = slot[None, :] < lens[:, None]
        index = torch.cat(firsts)[:, None] + torch.where(valid, slot[None, :], 0)
        items = MisItems(index=index.to(device), rows=index[valid].to(device), valid_pos=valid_positions(valid, device))
    buckets = []
    if rows:
        work = sum(len(r) * len(k) for r, k in zip(rows, keys))
        padded = len(rows) * max(len(r) for r in rows) * max(len(k) for k in keys)
        groups = [range(len(rows))] if padded <= 2 * work else [[i] for i in range(len(rows))]
        buckets = [_prefix_bucket([rows[i] for i in g], [dst[i] for i in g], [keys[i] for i in g],
                                  [positions[i] for i in g], device) for g in groups]
    return items, buckets, (torch.cat(lone).to(device) if lone else None)


def _window_mask(length: int, window: int, device, causal: bool = True, first_key_global: bool = False) -> torch.Tensor:
    """[L, L] bool: causal, row i sees keys i - window + 1 .. i (transformers' sliding window);
    bidirectional, keys less than ``window`` positions away on either side (EmbeddingGemma, ModernBERT),
    and with ``first_key_global`` the first key too, however far (Longformer's global first token)."""
    i = torch.arange(length, device=device)
    diff = i[:, None] - i[None, :]
    if causal:
        return (diff >= 0) & (diff < window)
    near = diff.abs() < window
    if first_key_global:
        near[:, 0] = True
    return near


def _offsets_within(lens: torch.Tensor) -> torch.Tensor:
    """[2, 3] -> [0, 1, 0, 1, 2]."""
    total = int(lens.sum())
    return torch.arange(total) - torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)


class TorchAttentionBackend(AttentionBackend):
    name = "torch"
    reads_rows = True

    def __init__(self, device: torch.device, dtype: torch.dtype, num_heads: int, num_kv_heads: int, head_dim: int) -> None:
        super().__init__(device, dtype)
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim
        self.merge_items = merge_item_attention  # or its compiled twin (use_fused_ops)

    def use_fused_ops(self, ops) -> None:
        """``ops``: layers/fused_ops.FusedOps, eager or compiled; the MIS merge is one of its chains."""
        self.merge_items = ops.mis_merge

    def build_metadata(self, layouts: list[SequenceLayout], causal: bool = True) -> TorchAttentionMetadata:
        run_starts, run_lens, run_key_lens, mis_seqs, prefixed = [], [], [], [], []
        total_rows = sum(seq.length for seq in layouts)
        for seq in layouts:
            if seq.key_len is not None and (causal or seq.query_len is not None or seq.cached_len):
                raise ValueError("a key limit (SequenceLayout.key_len) applies to plain bidirectional sequences only")
            if seq.query_len is not None:
                mis_seqs.append(seq)
            n = seq.length if seq.query_len is None else seq.query_len  # the plain run, or the MIS query
            if n == 0:
                continue
            if seq.cached_len:
                prefixed.append((seq.start, n, total_rows + seq.cached_start, seq.cached_len))
            else:
                run_starts.append(seq.start)
                run_lens.append(n)
                run_key_lens.append(n if seq.key_len is None else min(seq.key_len, n))
        if (mis_seqs or prefixed) and not causal:
            raise ValueError("MIS sequences and cached prefixes need causal attention")
        items, buckets, lone = _mis_layout(mis_seqs, self.device, total_rows) if mis_seqs else (None, [], None)
        runs = _run_chunks(run_starts, run_lens, run_key_lens, causal, self.device)
        return TorchAttentionMetadata(runs=runs, items=items, buckets=buckets, lone_delims=lone,
                                      prefixed=prefixed_run_chunks(prefixed, self.device) if prefixed else [])

    def forward(self, q, k, v, metadata: TorchAttentionMetadata, scale: float, softcap=None, window=None,
                prefix_kv=None, sinks=None, rows=None, first_key_global: bool = False) -> torch.Tensor:
        """``prefix_kv``: the cached prefixes' (k, v) [Tc, Hkv, D] that ``SequenceLayout.cached_start`` indexes;
        ``sinks`` [Hq]: each head's sink logit (GPT-OSS), in every softmax: runs, cached prefixes and MIS;
        ``rows`` [R]: only these rows' outputs, [R, Hq, D] (read_rows.py; others: every row, then these);
        ``first_key_global``: with a window, in bidirectional runs, every row also sees its sequence's first key."""
        if first_key_global and (metadata.items is not None or metadata.buckets or metadata.prefixed):
            raise ValueError("a global first key applies to bidirectional runs only")
        if rows is not None:
            if window is not None and self._window_masks(metadata, window, q.device, first_key_global).hides_nothing:
                window = None  # every sequence shorter than the window: the read rows' own path serves it
            plain = softcap is None and window is None and sinks is None and (prefix_kv is None or not len(prefix_kv[0]))
            plan = row_plan(metadata, rows, q.shape[0]) if plain else None
            if plan is not None:
                return attend_rows(q, k, v, metadata, plan, scale, len(rows))
            return self.forward(q, k, v, metadata, scale, softcap, window, prefix_kv, sinks,
                                first_key_global=first_key_global).index_select(0, rows)
        out = torch.empty_like(q)  # [T, Hq, D]; every row is written by exactly one run, item or delimiter
        if prefix_kv is not None and len(prefix_kv[0]):
            k, v = torch.cat([k, prefix_kv[0]]), torch.cat([v, prefix_kv[1]])  # [T + Tc, Hkv, D]: rows past T are cached
        for chunk in metadata.prefixed:
            attend_prefixed(q, k, v, chunk, scale, out, softcap, window, sinks)
        masks = None if window is None else self._window_masks(metadata, window, q.device, first_key_global)
        for i, chunk in enumerate(metadata.runs):
            window_mask = None if masks is None else masks.runs[i]
            if softcap is None and window_mask is None and sinks is None:
                self._runs(q, k, v, chunk, scale, out)
            else:
                self._masked_runs(q, k, v, chunk, scale, softcap, window_mask, out, sinks)
        if metadata.items is not None or metadata.buckets or metadata.lone_delims is not None:
            self._mis(q, k, v, metadata, scale, out, softcap, masks, sinks)
        return out

    def _window_masks(self, meta: TorchAttentionMetadata, window: int, device, first_key_global: bool = False) -> WindowMasks:
        """Built once per batch, window and ``first_key_global``. Runs start at position 0 (slot i is position i);
        MIS rows carry their single-item positions (``row_pos``), query keys sit at 0..Q-1."""
        key = (window, first_key_global)
        if key in meta.window_masks:
            return meta.window_masks[key]
        runs = [(_window_mask(c.index.shape[1], window, device, c.causal, first_key_global)[None]
                 & c.key_valid[:, None, None, :]) if c.index.shape[1] > window else None for c in meta.runs]
        buckets = []
        for b in meta.buckets:
            mask = None
            if int(b.row_pos.max()) >= window:  # some row sees only part of its query
                key_pos = torch.arange(b.key_index.shape[1], device=device)
                mask = (((b.row_pos[:, :, None] - key_pos) < window) & b.key_valid[:, None, :])[:, None]
            buckets.append(mask)
        items = None
        if meta.items is not None and meta.items.index.shape[1] > window:
            items = _window_mask(meta.items.index.shape[1], window, device)[None, None]
        meta.window_masks[key] = WindowMasks(runs, buckets, items)
        return meta.window_masks[key]

    def _masked_runs(self, q, k, v, chunk: RunChunk, scale: float, softcap, window_mask, out: torch.Tensor,
                     sinks=None) -> None:
        """Soft-capped scores (Gemma2), a sliding window shorter than the runs, or sinks (``with_sinks``):
        the log-sum-exp path."""
        qr, kr, vr = (gather_block(x, chunk.index) for x in (q, k, v))  # [b, H, L, D]
        mask, causal = chunk.mask, chunk.causal and chunk.mask is None
        if window_mask is not None:
            mask, causal = window_mask, False
        o, lse = attention_with_lse(qr, kr, vr, causal=causal, scale=scale, softcap=softcap, mask=mask)
        if sinks is not None:
            o = with_sinks(o, lse, sinks[:, None])  # lse [b, H, L]
        out.index_copy_(0, chunk.rows, block_rows(o, chunk.valid_pos))  # [n, H, D]

    def _runs(self, q, k, v, chunk: RunChunk, scale: float, out: torch.Tensor) -> None:
        gqa = q.shape[1] != k.shape[1]  # per call: a model's layers may differ in heads (Gemma 4)
        if chunk.contiguous_start is not None:
            n_runs, length = chunk.index.shape
            sl = slice(chunk.contiguous_start, chunk.contiguous_start + n_runs * length)
            qr, kr, vr = (x[sl].view(n_runs, length, x.shape[1], x.shape[2]).transpose(1, 2) for x in (q, k, v))
            o = F.scaled_dot_product_attention(qr, kr, vr, is_causal=chunk.causal, scale=scale, enable_gqa=gqa)
            out[sl] = o.transpose(1, 2).reshape(n_runs * length, q.shape[1], q.shape[2])  # [b·L, H, D]
            return
        qr, kr, vr = (gather_block(x, chunk.index) for x in (q, k, v))  # [b, H, L, D]
        o = F.scaled_dot_product_attention(
            qr, kr, vr, attn_mask=chunk.mask, is_causal=chunk.causal and chunk.mask is None, scale=scale,
            enable_gqa=gqa,
        )
        out.index_copy_(0, chunk.rows, block_rows(o, chunk.valid_pos))  # [n, H, D]

    def _mis(self, q, k, v, meta: TorchAttentionMetadata, scale: float, out: torch.Tensor, softcap=None,
             masks: Optional[WindowMasks] = None, sinks=None) -> None:
        """``sinks`` [Hq]: an item token's softmax spans both parts, so the sink scales the merged
        output by the merged log-sum-exp (no partial softmax has it). Delimiter rows are read by
        nothing (an empty item reads the last query token), so they go without."""
        items = meta.items
        num_rows = 0 if items is None else items.rows.shape[0]
        if meta.lone_delims is not None:  # an empty query: nothing to attend to but themselves (never read)
            g = q.shape[1] // k.shape[1]
            out[meta.lone_delims] = v[meta.lone_delims].repeat_interleave(g, 1)
        # (A) item tokens and delimiters against their own query: [G, Hq, Rmax, D] against
        # [G, Hkv, Qmax, D]. Items' outputs land in MisItems.rows order: a slice of the bucket's
        # rows when one bucket holds every item in order, a scatter otherwise; rows of empty
        # queries keep lse = -inf.
        oa_items = lse_a = None
        if not (len(meta.buckets) == 1 and meta.lone_delims is None and meta.buckets[0].item_range == (0, num_rows)):
            oa_items = q.new_zeros(num_rows, q.shape[1], q.shape[2])
            lse_a = torch.full((num_rows, q.shape[1]), float("-inf"), device=q.device)
        for i, b in enumerate(meta.buckets):
            qa = gather_block(q, b.row_index)
            ka, va = gather_block(k, b.key_index), gather_block(v, b.key_index)
            bias = None if b.key_bias is None else b.key_bias.to(q.dtype)
            mask = None if masks is None else masks.buckets[i]  # [G, 1, Rmax, Qmax], padded keys hidden too
            if mask is not None:
                bias = None
            o, lse = attention_with_lse(qa, ka, va, causal=False, scale=scale, key_bias=bias, softcap=softcap, mask=mask)
            o, lse = block_rows(o, b.row_valid_pos), block_lse_rows(lse, b.row_valid_pos)  # [valid rows, Hq(, D)]
            out.index_copy_(0, b.delim_rows, o.index_select(0, b.delim_src))
            if oa_items is None:  # the bucket's first num_rows rows are the items, in order
                oa_items, lse_a = o[:num_rows], lse[:num_rows]
            elif b.item_range is not None:
                first, n = b.item_range
                oa_items[first : first + n], lse_a[first : first + n] = o[:n], lse[:n]
            else:
                oa_items.index_copy_(0, b.item_dst, o.index_select(0, b.item_src))
                lse_a.index_copy_(0, b.item_dst, lse.index_select(0, b.item_src))
        if items is None:
            return
        # (B) every item of every sequence causally against its own tokens, in one call:
        # [N', Hq, Lmax, D], pad slots at the end of each item.
        qb, kb, vb = (gather_block(x, items.index) for x in (q, k, v))
        mask = None if masks is None else masks.items  # [1, 1, Lmax, Lmax]
        ob, lse_b = attention_with_lse(qb, kb, vb, causal=mask is None, scale=scale, softcap=softcap, mask=mask)
        if sinks is None:  # softmax over [query ; own] = the two partial softmaxes mixed by their log-sum-exps
            self.merge_items(out, items.rows, ob, lse_b, items.valid_pos, oa_items, lse_a)
            return
        ob, lse_b = block_rows(ob, items.valid_pos), block_lse_rows(lse_b, items.valid_pos)  # [R, Hq(, D)]
        merged = merge_partials(ob, oa_items, lse_a, lse_b)  # [R, Hq, D]
        out.index_copy_(0, items.rows, with_sinks(merged, torch.logaddexp(lse_a, lse_b), sinks))

