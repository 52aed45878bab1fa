"""FlagEmbedding's token compression (bge-reranker-v2.5-gemma2-lightweight's ``compress_ratio`` /
``compress_layers``): before each compress layer, every pair's passage tokens are averaged in groups of
``ratio`` consecutive hidden states (the last group over the tokens it has), the pair's sequence is
rebuilt as query rows, the group averages, then prompt rows, and its positions are numbered afresh
from 0. Later layers attend over the shorter sequences; a second compress layer averages the averaged
passage again.

Which tokens are the query, the passage and the prompt comes with each sequence as its token types
(``QUERY``, ``PASSAGE``, ``PROMPT``: entrypoints/serving/scorers.py's ``CompressedPairScorer`` sends
them, from the ``bge_reranker_lightweight`` template). Sequences without passage tokens (warm-up
batches, ``/pooling``) pass through unchanged.
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
    """segments, positions [T] and the batch's sequences -> the plan for one compress layer (module doc)."""
    types, old_positions = segments.tolist(), positions.tolist()
    dst, weight, new_layouts, new_positions, new_types = [], [], [], [], []
    for seq in layouts:
        mine = types[seq.start: seq.start + seq.length]
        passage = [i for i, t in enumerate(mine) if t == PASSAGE]
        start = len(new_types)
        if not passage:  # unchanged, moved
            dst += range(start, start + seq.length)
            weight += [1.0] * seq.length
            new_positions += old_positions[seq.start: seq.start + seq.length]
            new_types += mine
            new_layouts.append(replace(seq, start=start))
            continue
        first, count = passage[0], len(passage)
        if passage[-1] - first + 1 != count or seq.query_len is not None or seq.cached_len:
            raise ValueError("token compression needs each pair as one plain sequence with its passage in one piece")
        groups = -(-count // ratio)
        for i, t in enumerate(mine):
            if i < first:
                dst.append(start + i)
                weight.append(1.0)
            elif i < first + count:
                g = (i - first) // ratio
                dst.append(start + first + g)
                weight.append(1.0 / min(ratio, count - g * ratio))
            else:
                dst.append(start + i - count + groups)
                weight.append(1.0)
        length = seq.length - count + groups
        new_positions += range(length)
        new_types += mine[:first] + [PASSAGE] * groups + mine[first + count:]
        new_layouts.append(replace(seq, start=start, length=length))
    device = segments.device
    return CompressionPlan(
        dst=torch.tensor(dst, dtype=torch.long, device=device), weight=torch.tensor(weight, device=device),
        num_rows=len(new_types), layouts=new_layouts, positions=torch.tensor(new_positions, dtype=torch.long, device=device),
        segments=torch.tensor(new_types, dtype=torch.long, device=device))


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
                backend = attention.backend  # the shorter sequences' own metadata; nothing cached to read
                attention = BatchAttention(backend, backend.build_metadata(layouts, causal=True))
                ctx = self.context(positions, hidden.dtype, attention)
            hidden, residual = layer(hidden, residual, ctx, keep_rows if i == last else None)
        return self.ops.add_rms_norm(hidden, residual, self.norm.weight, self.norm.eps)[1]
