"""Scheduling policy: requests -> sequences -> token-budgeted batches -> per-request answers.

Pure policy, no I/O (the ZMQ loop lives in scheduler.py): ``add_request``, ``schedule() -> batch``,
``process_output(batch, outputs) -> finished answers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from multiscore.messages import RequestOutput, TokenizedScoreRequest
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.mis_layout import pack_mis
from multiscore.scheduler.fair_queue import FairQueue
from multiscore.server_args import MIS_PLACEHOLDER_DELIMITER


@dataclass
class _PendingRequest:
    remaining_sequences: int
    prompt_tokens: int
    outputs: list  # [num_items] output rows, filled in as the request's sequences finish


def shares_query(req: TokenizedScoreRequest, share_query: bool) -> bool:
    """Whether a single-item request's items are packed as MIS is, so that its query is computed
    once instead of once per item: the same scores by the MIS contract (DESIGN.md §4)."""
    return (share_query and not req.mis and not req.item_first and len(req.items_ids) > 1 and len(req.query_ids) > 0
            and not req.pooling.per_token and req.items_token_type_ids is None and req.items_key_lens is None)


def split_into_sequences(req: TokenizedScoreRequest, delimiter: Optional[int], pack_limit: int,
                         share_query: bool = False) -> list[ScoreSequence]:
    """Single-item: one sequence per item, or, with ``share_query`` (causal decoders, prefix
    sharing on), packed as MIS. MIS (``req.mis``): as few packed sequences as fit ``pack_limit``
    tokens, each carrying the full query (so splitting never changes a score).

    A one-item MIS request is scored as the plain sequence ``query + item``: its score is the same
    by the MIS contract, and plain sequences from many requests batch into one attention call.
    """
    shared = shares_query(req, share_query)
    if not (req.mis or shared) or len(req.items_ids) == 1:
        return [_single_sequence(req, i) for i in range(len(req.items_ids))]
    if shared and delimiter is None:
        delimiter = MIS_PLACEHOLDER_DELIMITER  # no token attends to a delimiter: any id gives the same scores
    if delimiter is None:
        raise ValueError("an MIS request reached a scheduler without --multi-item-scoring-delimiter")
    q = len(req.query_ids)
    seqs, start, length = [], 0, q + 1  # query + final delimiter
    for i, item in enumerate(req.items_ids):
        if i > start and length + len(item) + 1 > pack_limit:
            seqs.append(_mis_sequence(req, start, i, delimiter))
            start, length = i, q + 1
        length += len(item) + 1
    seqs.append(_mis_sequence(req, start, len(req.items_ids), delimiter))
    return seqs


def _single_sequence(req: TokenizedScoreRequest, i: int) -> ScoreSequence:
    query, item = req.query_ids, req.items_ids[i]
    parts = [(item, i, 0), (query, None, len(item))] if req.item_first else [(query, None, 0), (item, i, len(query))]
    rows, embeds = _override_rows(req, parts)
    return ScoreSequence(
        rid=req.rid, input_ids=(item + query) if req.item_first else (query + item), item_start=i, num_items=1,
        pooling=req.pooling, token_type_ids=_pair_types(req, i),
        key_len=req.items_key_lens[i] if req.items_key_lens else None,
        embed_rows=rows, embeds=embeds, cache_len=0 if req.item_first or req.pooling.per_token else _cacheable(req),
    )


def _mis_sequence(req: TokenizedScoreRequest, start: int, end: int, delimiter: int) -> ScoreSequence:
    items = req.items_ids[start:end]
    parts, row = [(req.query_ids, None, 0)], len(req.query_ids) + 1  # each item follows its delimiter
    for i, item in enumerate(items, start):
        parts.append((item, i, row))
        row += len(item) + 1
    rows, embeds = _override_rows(req, parts)
    return ScoreSequence(
        rid=req.rid,
        input_ids=pack_mis(req.query_ids, items, delimiter),
        item_start=start,
        num_items=end - start,
        pooling=req.pooling,
        query_len=len(req.query_ids),
        item_lens=[len(it) for it in items],
        token_type_ids=_packed_types(req, start, end),
        embed_rows=rows,
        embeds=embeds,
        cache_len=_cacheable(req),
    )


def _pair_types(req: TokenizedScoreRequest, i: int) -> Optional[list[int]]:
    """Item i's token types, with the query's (0) where the request has a query apart: an encoder's
    whole pair has none; a compressing decoder's MIS request does (models/token_compression.py)."""
    if not req.items_token_type_ids:
        return None
    pad = [0] * len(req.query_ids)
    types = req.items_token_type_ids[i]
    return types + pad if req.item_first else pad + types


def _packed_types(req: TokenizedScoreRequest, start: int, end: int) -> Optional[list[int]]:
    """An MIS sequence's token types: the query's and the delimiters' 0, each item's its own."""
    if not req.items_token_type_ids:
        return None
    types = [0] * len(req.query_ids)
    for item_types in req.items_token_type_ids[start:end]:
        types += [0] + item_types
    return types + [0]


def _cacheable(req: TokenizedScoreRequest) -> int:
    """The query's tokens, which the prefix cache may keep; none when vectors replace some inputs, or
    an adapter changes their keys (the cache holds the base model's)."""
    return 0 if req.embed_overrides is not None or req.pooling.adapter is not None else len(req.query_ids)


def _override_rows(req: TokenizedScoreRequest, parts: list) -> tuple[Optional[list[int]], Optional[np.ndarray]]:
    """parts: (token ids, item index or None for the query, first row in the sequence) ->
    (rows whose input embedding is given, those vectors [K, H]); (None, None) without overrides."""
    ov = req.embed_overrides
    if ov is None:
        return None, None
    rows, vectors = [], []
    for ids, item, first_row in parts:
        given = ov.query if item is None else ov.items[item]
        if given is not None and len(given):
            rows += [first_row + t for t, token in enumerate(ids) if token == ov.token_id]
            vectors.append(given)
    return (rows, np.concatenate(vectors)) if rows else (None, None)


class SchedulePolicy:
    def __init__(self, max_prefill_tokens: int, pack_limit: int, delimiter: Optional[int], share_query: bool = False,
                 order: str = "fair") -> None:
        self.max_prefill_tokens = max_prefill_tokens
        self.pack_limit = pack_limit
        self.delimiter = delimiter
        self.share_query = share_query  # single-item requests' items share one pass over their query
        self.waiting = FairQueue(order)  # requests take turns (fair_queue.py); "fcfs": arrival order
        self.pending: dict[str, _PendingRequest] = {}

    def add_request(self, req: TokenizedScoreRequest) -> Optional[RequestOutput]:
        """Queue a request's sequences; a request with no items is answered at once."""
        if not req.items_ids:
            return RequestOutput(rid=req.rid, outputs=[], prompt_tokens=0)
        seqs = split_into_sequences(req, self.delimiter, self.pack_limit, self.share_query)
        # Usage counts what was asked: a single-item request's query once per item, shared or not.
        shared = shares_query(req, self.share_query)
        prompt_tokens = sum(len(req.query_ids) + len(it) for it in req.items_ids) if shared else sum(len(s) for s in seqs)
        self.pending[req.rid] = _PendingRequest(
            remaining_sequences=len(seqs),
            prompt_tokens=prompt_tokens,
            outputs=[None] * len(req.items_ids),
        )
        self.waiting.add(req.rid, req.priority, seqs)
        return None

    def has_work(self) -> bool:
        return len(self.waiting) > 0

    @property
    def num_waiting_sequences(self) -> int:
        return len(self.waiting)

    def schedule(self) -> list[ScoreSequence]:
        """Sequences from any number of requests, up to the token budget (at least one), each
        request taking its turn (fair_queue.py)."""
        return self.waiting.take(self.max_prefill_tokens)

    def abort(self, rid: str) -> Optional[int]:
        """Forget a request: its waiting sequences leave the queue, and the output of any sequence
        already running is discarded. Returns the number of sequences dropped; None when the
        request is not pending (finished already, or unknown)."""
        if self.pending.pop(rid, None) is None:
            return None
        return self.waiting.remove([rid])

    def process_output(self, batch: list[ScoreSequence], outputs: list[torch.Tensor]) -> list[RequestOutput]:
        """outputs: one [num_items, C] tensor per sequence of ``batch`` -> the requests now complete."""
        finished = []
        for seq, seq_outputs in zip(batch, outputs):
            req = self.pending.get(seq.rid)
            if req is None:
                continue  # aborted while its batch ran
            if seq.pooling.per_token:  # token tasks: the sequence's one item is its [tokens, C] rows
                req.outputs[seq.item_start] = seq_outputs.tolist()
            else:
                req.outputs[seq.item_start : seq.item_start + seq.num_items] = seq_outputs.tolist()
            req.remaining_sequences -= 1
            if req.remaining_sequences == 0:
                del self.pending[seq.rid]
                finished.append(RequestOutput(rid=seq.rid, outputs=req.outputs, prompt_tokens=req.prompt_tokens))
        return finished

    def fail_batch(self, batch: list[ScoreSequence]) -> list[str]:
        """Drop every request that had a sequence in a failed batch; returns their ids."""
        rids = {seq.rid for seq in batch}
        self.waiting.remove(rids)
        for rid in rids:
            self.pending.pop(rid, None)
        return sorted(rids)
