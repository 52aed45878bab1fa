"""The unit of scheduling (ScoreSequence) and the packed batch the worker builds from several of them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional

import torch

from multiscore.layers.attention.base import SequenceLayout
from multiscore.layers.pooler import ReadoutGroup
from multiscore.model_executor.mis_layout import mis_positions, mis_readout_rows


@dataclass
class ScoreSequence:
    """One packed sequence of one request: ``query+item`` (or ``item+query``), or an MIS pack of items.

    Owned by the scheduler; the worker reads it.
    """

    rid: str
    input_ids: list[int]
    item_start: int  # index (in the request) of the first item this sequence scores
    num_items: int
    label_token_ids: Optional[list[int]]
    apply_softmax: bool
    query_len: Optional[int] = None  # MIS: tokens before the first delimiter; None: single-item
    item_lens: Optional[list[int]] = None  # MIS: tokens of each item, delimiters excluded
    token_type_ids: Optional[list[int]] = None  # encoders: segment of each token (0 = first text)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class ForwardBatch:
    input_ids: torch.Tensor  # [T]
    positions: torch.Tensor  # [T]
    layouts: list[SequenceLayout]
    readout_rows: torch.Tensor  # [R] flat rows whose hidden state is scored
    groups: list[ReadoutGroup]  # one per sequence, rows [start, end) of readout_rows
    token_type_ids: torch.Tensor  # [T], zeros where a sequence has none

    @classmethod
    def build(cls, seqs: list[ScoreSequence], device: torch.device) -> "ForwardBatch":
        layouts, positions, readouts, groups = [], [], [], []
        start = num_readouts = 0
        for seq in seqs:
            n = len(seq)
            if seq.query_len is None:
                layouts.append(SequenceLayout(start=start, length=n))
                positions.append(torch.arange(n))
                readouts.append(torch.tensor([start + n - 1]))
            else:
                item_lens = torch.tensor(seq.item_lens, dtype=torch.long)
                layouts.append(SequenceLayout(start=start, length=n, query_len=seq.query_len, item_lens=item_lens))
                positions.append(mis_positions(seq.query_len, item_lens))
                readouts.append(start + mis_readout_rows(seq.query_len, item_lens))
            groups.append(ReadoutGroup(num_readouts, num_readouts + seq.num_items, seq.label_token_ids, seq.apply_softmax))
            num_readouts += seq.num_items
            start += n
        input_ids = torch.tensor(list(itertools.chain.from_iterable(s.input_ids for s in seqs)), dtype=torch.long)
        token_types = list(itertools.chain.from_iterable(s.token_type_ids or [0] * len(s) for s in seqs))
        return cls(
            input_ids=input_ids.to(device),
            positions=torch.cat(positions).to(device),
            layouts=layouts,
            readout_rows=torch.cat(readouts).to(device),
            groups=groups,
            token_type_ids=torch.tensor(token_types, dtype=torch.long).to(device),
        )

    @property
    def seq_lens(self) -> list[int]:
        return [layout.length for layout in self.layouts]
