"""The unit of scheduling (ScoreSequence) and the packed batch the worker builds from several of them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from multiscore.layers.attention.base import SequenceLayout
from multiscore.layers.task_adapters import AdapterGroups
from multiscore.layers.pooler import PoolingMetadata, ReadoutGroup
from multiscore.messages import PoolingParams
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
    pooling: PoolingParams
    query_len: Optional[int] = None  # MIS: tokens before the first delimiter; None: single-item
    item_lens: Optional[list[int]] = None  # MIS: tokens of each item, delimiters excluded
    token_type_ids: Optional[list[int]] = None  # encoders: segment of each token (0 = first text)
    key_len: Optional[int] = None  # encoders: every token attends to the first key_len tokens only (None: all)
    # Rows (in this sequence) whose input embedding is given as a vector, and the vectors [K, H].
    embed_rows: Optional[list[int]] = None
    embeds: Optional[np.ndarray] = None
    # Leading tokens whose keys/values only depend on themselves (the query): the prefix cache may
    # keep them and skip them in a later batch. 0: nothing to cache.
    cache_len: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class ForwardBatch:
    input_ids: torch.Tensor  # [T]
    positions: torch.Tensor  # [T]
    token_type_ids: torch.Tensor  # [T], zeros where a sequence has none
    layouts: list[SequenceLayout]  # for the attention backend
    pooling: PoolingMetadata  # for the model's pooler
    # Input embeddings given as vectors: flat rows [K] and their values [K, H] float32; None: none.
    embed_overrides: Optional[tuple[torch.Tensor, torch.Tensor]] = None
    # Task adapters (PoolingParams.adapter): per adapter used, the rows it applies to (None: every row).
    adapter_groups: AdapterGroups = ()

    @classmethod
    def build(cls, seqs: list[ScoreSequence], device: torch.device, cached: Optional[list[int]] = None) -> "ForwardBatch":
        """``cached``: per sequence, leading tokens whose keys/values come from the prefix cache;
        they get no row here (the attention backend reads them as ``SequenceLayout.cached_len``)."""
        cached = cached or [0] * len(seqs)
        layouts, positions, item_last_rows, groups = [], [], [], []
        start = num_outputs = prefix_start = 0
        for seq, p in zip(seqs, cached):
            n = len(seq) - p
            prefix = dict(cached_len=p, cached_start=prefix_start)
            if seq.query_len is None:
                layouts.append(SequenceLayout(start=start, length=n, key_len=seq.key_len, **prefix))
                positions.append(torch.arange(p, p + n))
                item_last_rows.append(torch.tensor([start + n - 1]))
            else:
                item_lens = torch.tensor(seq.item_lens, dtype=torch.long)
                layouts.append(SequenceLayout(start=start, length=n, query_len=seq.query_len - p, item_lens=item_lens,
                                              **prefix))
                positions.append(mis_positions(seq.query_len, item_lens)[p:])
                item_last_rows.append(start - p + mis_readout_rows(seq.query_len, item_lens))
            outputs = n if seq.pooling.per_token else seq.num_items  # token tasks: one output per token
            groups.append(ReadoutGroup(num_outputs, num_outputs + outputs, seq.pooling))
            num_outputs += outputs
            start += n
            prefix_start += p
        seq_lens = [layout.length for layout in layouts]
        # Sequences with given embeddings are never cached (their keys depend on more than ids).
        override_rows = [layout.start + r for seq, layout in zip(seqs, layouts) for r in (seq.embed_rows or [])]
        embed_overrides = None
        if override_rows:
            values = np.concatenate([seq.embeds for seq in seqs if seq.embed_rows])
            embed_overrides = (torch.tensor(override_rows, device=device), torch.from_numpy(values).to(device))
        lens = torch.tensor(seq_lens, dtype=torch.long)
        input_ids = torch.tensor(list(itertools.chain.from_iterable(s.input_ids[p:] for s, p in zip(seqs, cached))),
                                 dtype=torch.long)
        # Encoders are never cached; a compressing decoder's query (its types 0) may be.
        token_types = list(itertools.chain.from_iterable((s.token_type_ids or [0] * len(s))[p:] for s, p in zip(seqs, cached)))
        input_ids = input_ids.to(device)
        return cls(
            input_ids=input_ids,
            positions=torch.cat(positions).to(device),
            token_type_ids=torch.tensor(token_types, dtype=torch.long).to(device),
            layouts=layouts,
            pooling=PoolingMetadata(
                seq_lens=seq_lens,
                seq_starts=(torch.cumsum(lens, 0) - lens).to(device),
                item_last_rows=torch.cat(item_last_rows).to(device),
                groups=groups,
                per_token=bool(seqs) and seqs[0].pooling.per_token,  # the policy never mixes the two
                input_ids=input_ids,
            ),
            embed_overrides=embed_overrides,
            adapter_groups=_adapter_groups(seqs, layouts, len(input_ids), device),
        )

    @property
    def seq_lens(self) -> list[int]:
        return self.pooling.seq_lens


def _adapter_groups(seqs: list[ScoreSequence], layouts: list[SequenceLayout], num_rows: int,
                    device: torch.device) -> AdapterGroups:
    """Per task adapter the sequences use, its rows of the batch [R] (None when it is every row).
    Adapted sequences are encoders' (never prefix-cached), so each one's rows are all its tokens."""
    spans: dict[int, list[torch.Tensor]] = {}
    for seq, layout in zip(seqs, layouts):
        if seq.pooling.adapter is not None:
            spans.setdefault(seq.pooling.adapter, []).append(torch.arange(layout.start, layout.start + layout.length))
    groups = []
    for adapter, parts in spans.items():
        rows = torch.cat(parts)
        groups.append((adapter, None if len(rows) == num_rows else rows.to(device)))
    return tuple(groups)
