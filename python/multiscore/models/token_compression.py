"""FlagEmbedding's token compression (bge-reranker-v2.5-gemma2-lightweight's ``compress_ratio`` /
``compress_layers``): before each compress layer, every pair's passage tokens are averaged in groups of
``ratio`` consecutive hidden states (the last group over the tokens it has), the pair's sequence is
rebuilt as query rows, the group averages, then prompt rows, and its positions are numbered afresh
from 0. Later layers attend over the shorter sequences; a second compress layer averages the averaged
passage again. Under MIS each item (passage and prompt) shrinks the same way inside the packed
sequence, numbered from the query's length as the pair alone is, so MIS still equals single-item.

Which tokens are the query, the passage and the prompt comes with each sequence as its token types
(``QUERY``, ``PASSAGE``, ``PROMPT``): entrypoints/serving/scorers.py's ``CompressedPairScorer`` and
``CompressedMisScorer`` send them, from the ``bge_reranker_lightweight`` template. Sequences without
passage tokens (warm-up batches, ``/pooling``) pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch

from multiscore.layers.attention import BatchAttention
from multiscore.layers.attention.base import SequenceLayout
from multiscore.models.decoder import DecoderModel

QUERY, PASSAGE, PROMPT = 0, 1, 2


@dataclass
class CompressionPlan:
    """How one compress layer rebuilds a batch of T rows into T' rows."""

    dst: torch.Tensor  # [T] long: the new row each old row is added into
    weight: torch.Tensor  # [T] float32: 1 for a kept row, 1 / (its group's size) for a passage row
    num_rows: int  # T'
    layouts: list[SequenceLayout]  # the new sequences, for the attention backend
    positions: torch.Tensor  # [T'] long
    segments: torch.Tensor  # [T'] long: the new rows' token types (a group is PASSAGE still)

    def apply(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [T, H] -> [T', H]: kept rows copied, each group the mean of its rows."""
        scaled = hidden * self.weight.to(hidden.dtype)[:, None]
        return hidden.new_zeros(self.num_rows, hidden.shape[1]).index_add_(0, self.dst, scaled)

    def rows(self, old_rows: torch.Tensor) -> torch.Tensor:
        """Rows [R] of the old batch -> the new rows holding them (a passage row: its group)."""
        return self.dst.index_select(0, old_rows)


def plan_compression(segments: torch.Tensor, positions: torch.Tensor, layouts: list[SequenceLayout],
                     ratio: int) -> CompressionPlan:
    """segments, positions [T] and the batch's sequences -> the plan for one compress layer (module doc).

    A plain sequence is one pair, numbered afresh from 0. In an MIS sequence (``query D item_1 D ...
    item_N D``) each item is a pair's passage and prompt: its tokens are numbered afresh from the query's
    length, as the pair alone would be; the query and the delimiters keep their rows' positions. A
    prefix the cache holds (``cached_len`` tokens, the query's, which compression never touches) has no
    rows: a sequence's rows then start at position ``cached_len``."""
    types, old = segments.tolist(), positions.tolist()
    plan = _Builder(types, old, ratio)
    layouts_out = []
    for seq in layouts:
        start = plan.num_rows
        if seq.query_len is None:
            plan.span(seq.start, seq.length, base=seq.cached_len)
            layouts_out.append(replace(seq, start=start, length=plan.num_rows - start))
            continue
        q, row, item_lens = seq.query_len, seq.start + seq.query_len, []
        plan.keep(seq.start, q)
        for n in seq.item_lens.tolist():
            plan.keep(row, 1)  # the delimiter before the item
            item_lens.append(plan.span(row + 1, n, base=seq.cached_len + q))
            row += n + 1
        plan.keep(row, 1)  # the final delimiter
        layouts_out.append(replace(seq, start=start, length=plan.num_rows - start, item_lens=torch.tensor(item_lens)))
    return plan.build(layouts_out, segments.device)


class _Builder:
    """Collects, row by row, where each old row goes (plan_compression)."""

    def __init__(self, types: list[int], positions: list[int], ratio: int) -> None:
        self.types, self.old_positions, self.ratio = types, positions, ratio
        self.dst, self.weight, self.positions, self.new_types = [], [], [], []

    @property
    def num_rows(self) -> int:
        return len(self.new_types)

    def keep(self, first: int, count: int) -> None:
        """Rows first .. first + count unchanged, with their positions."""
        self.dst += range(self.num_rows, self.num_rows + count)
        self.weight += [1.0] * count
        self.positions += self.old_positions[first: first + count]
        self.new_types += self.types[first: first + count]

    def span(self, first: int, count: int, base: int) -> int:
        """One pair's rows (or an item's): its passage averaged in groups of ``ratio``, the rows numbered
        ``base``, ``base`` + 1, ... -> its new length. Without passage rows, kept as they are."""
        mine = self.types[first: first + count]
        passage = [i for i, t in enumerate(mine) if t == PASSAGE]
        if not passage:
            self.keep(first, count)
            return count
        head, n = passage[0], len(passage)
        if passage[-1] - head + 1 != n:
            raise ValueError("token compression needs each pair's passage in one piece")
        groups, out = -(-n // self.ratio), self.num_rows
        for i in range(count):
            if head <= i < head + n:
                g = (i - head) // self.ratio
                self.dst.append(out + head + g)
                self.weight.append(1.0 / min(self.ratio, n - g * self.ratio))
            else:
                self.dst.append(out + (i if i < head else i - n + groups))
                self.weight.append(1.0)
        length = count - n + groups
        self.positions += range(base, base + length)
        self.new_types += mine[:head] + [PASSAGE] * groups + mine[head + n:]
        return length

    def build(self, layouts: list[SequenceLayout], device) -> CompressionPlan:
        return CompressionPlan(
            dst=torch.tensor(self.dst, dtype=torch.long, device=device), weight=torch.tensor(self.weight, device=device),
            num_rows=self.num_rows, layouts=layouts, positions=torch.tensor(self.positions, dtype=torch.long, device=device),
            segments=torch.tensor(self.new_types, dtype=torch.long, device=device))


class CompressingDecoderModel(DecoderModel):
    """``DecoderModel`` that compresses passage tokens before each of ``compress_at`` (layer indices)."""

    def __init__(self, config, options, ratio: int, compress_at: tuple[int, ...]) -> None:
        super().__init__(config, options)
        self.ratio = ratio
        self.compress_at = frozenset(compress_at)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None, segments: Optional[torch.Tensor] = None,
                layouts: Optional[list[SequenceLayout]] = None) -> torch.Tensor:
        """As ``DecoderModel.forward``, with the batch's token types ``segments`` [T] and ``layouts``."""
        if segments is None or not bool((segments == PASSAGE).any()):
            return super().forward(input_ids, positions, attention, keep_rows, embed_overrides)
        if keep_rows is None:  # every row read (per-token outputs, adapters): rows the compression removes
            raise ValueError("token compression reads only each pair's last token; per-token outputs and "
                             "adapters are not served with it")
        hidden = self.embed(input_ids, embed_overrides)  # [T, H]
        ctx = self.context(positions, hidden.dtype, attention)
        last, residual = len(self.layers) - 1, None
        for i, layer in enumerate(self.layers):
            if i in self.compress_at:
                plan = plan_compression(segments, positions, layouts, self.ratio)
                hidden, residual = plan.apply(hidden if residual is None else hidden + residual), None  # [T', H]
                segments, positions, layouts, keep_rows = plan.segments, plan.positions, plan.layouts, plan.rows(keep_rows)
                # The shorter sequences' own metadata; the prefix cache saves the same query rows, moved.
                prefix = attention.prefix
                if prefix is not None:
                    prefix = replace(prefix, save_rows=plan.dst.index_select(0, prefix.save_rows))
                backend = attention.backend
                attention = BatchAttention(backend, backend.build_metadata(layouts, causal=True), prefix)
                ctx = self.context(positions, hidden.dtype, attention)
            hidden, residual = layer(hidden, residual, ctx, keep_rows if i == last else None)
        return self.ops.add_rms_norm(hidden, residual, self.norm.weight, self.norm.eps)[1]
