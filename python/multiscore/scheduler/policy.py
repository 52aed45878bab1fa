"""Scheduling policy: requests -> sequences -> token-budgeted batches -> per-request answers.

Pure policy, no I/O (the ZMQ loop lives in scheduler.py): ``add_request``, ``schedule() -> batch``,
``process_output(batch, scores) -> finished answers``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional

import torch

from multiscore.messages import ScoreOutput, TokenizedScoreRequest
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.mis_layout import pack_mis


@dataclass
class _PendingRequest:
    remaining_sequences: int
    prompt_tokens: int
    scores: list  # [num_items] score rows, filled in as the request's sequences finish


def split_into_sequences(req: TokenizedScoreRequest, delimiter: Optional[int], pack_limit: int) -> list[ScoreSequence]:
    """Single-item: one sequence per item. MIS: as few packed sequences as fit ``pack_limit``
    tokens, each carrying the full query (so splitting never changes a score).

    A one-item request under MIS is scored as the plain sequence ``query + item``: its score is the
    same by the MIS contract, and plain sequences from many requests batch into one attention call.
    ``req.pack=False`` (classify) makes every item such a plain sequence.
    """
    common = dict(rid=req.rid, label_token_ids=req.label_token_ids, apply_softmax=req.apply_softmax)
    if req.items_token_type_ids is not None:  # encoder pairs: the item is the whole sequence
        return [
            ScoreSequence(input_ids=req.query_ids + item, item_start=i, num_items=1, token_type_ids=types, **common)
            for i, (item, types) in enumerate(zip(req.items_ids, req.items_token_type_ids))
        ]
    if delimiter is not None and (len(req.items_ids) == 1 or not req.pack):
        return [
            ScoreSequence(input_ids=req.query_ids + item, item_start=i, num_items=1, **common)
            for i, item in enumerate(req.items_ids)
        ]
    if delimiter is None:
        return [
            ScoreSequence(input_ids=(item + req.query_ids) if req.item_first else (req.query_ids + item),
                          item_start=i, num_items=1, **common)
            for i, item in enumerate(req.items_ids)
        ]
    q = len(req.query_ids)
    seqs, start, length = [], 0, q + 1  # query + final delimiter
    for i, item in enumerate(req.items_ids):
        if i > start and length + len(item) + 1 > pack_limit:
            seqs.append(_mis_sequence(req, start, i, delimiter, common))
            start, length = i, q + 1
        length += len(item) + 1
    seqs.append(_mis_sequence(req, start, len(req.items_ids), delimiter, common))
    return seqs


def _mis_sequence(req, start: int, end: int, delimiter: int, common: dict) -> ScoreSequence:
    items = req.items_ids[start:end]
    return ScoreSequence(
        input_ids=pack_mis(req.query_ids, items, delimiter),
        item_start=start,
        num_items=end - start,
        query_len=len(req.query_ids),
        item_lens=[len(it) for it in items],
        **common,
    )


class SchedulePolicy:
    def __init__(self, max_prefill_tokens: int, pack_limit: int, delimiter: Optional[int]) -> None:
        self.max_prefill_tokens = max_prefill_tokens
        self.pack_limit = pack_limit
        self.delimiter = delimiter
        self.waiting: deque[ScoreSequence] = deque()
        self.pending: dict[str, _PendingRequest] = {}

    def add_request(self, req: TokenizedScoreRequest) -> Optional[ScoreOutput]:
        """Queue a request's sequences; a request with no items is answered at once."""
        if not req.items_ids:
            return ScoreOutput(rid=req.rid, scores=[], prompt_tokens=0)
        seqs = split_into_sequences(req, self.delimiter, self.pack_limit)
        self.pending[req.rid] = _PendingRequest(
            remaining_sequences=len(seqs),
            prompt_tokens=sum(len(s) for s in seqs),
            scores=[None] * len(req.items_ids),
        )
        self.waiting.extend(seqs)
        return None

    def has_work(self) -> bool:
        return bool(self.waiting)

    def schedule(self) -> list[ScoreSequence]:
        """FIFO sequences, from any number of requests, up to the token budget (at least one)."""
        batch, tokens = [], 0
        while self.waiting and (not batch or tokens + len(self.waiting[0]) <= self.max_prefill_tokens):
            seq = self.waiting.popleft()
            batch.append(seq)
            tokens += len(seq)
        return batch

    def abort(self, rid: str) -> int:
        """Forget a request: its waiting sequences leave the queue, and the output of any sequence
        already running is discarded. Returns the number of sequences dropped."""
        if self.pending.pop(rid, None) is None:
            return 0  # finished (or unknown) already
        before = len(self.waiting)
        self.waiting = deque(s for s in self.waiting if s.rid != rid)
        return before - len(self.waiting)

    def process_output(self, batch: list[ScoreSequence], scores: list[torch.Tensor]) -> list[ScoreOutput]:
        finished = []
        for seq, seq_scores in zip(batch, scores):
            req = self.pending.get(seq.rid)
            if req is None:
                continue  # aborted while its batch ran
            req.scores[seq.item_start : seq.item_start + seq.num_items] = seq_scores.tolist()
            req.remaining_sequences -= 1
            if req.remaining_sequences == 0:
                del self.pending[seq.rid]
                finished.append(ScoreOutput(rid=seq.rid, scores=req.scores, prompt_tokens=req.prompt_tokens))
        return finished

    def fail_batch(self, batch: list[ScoreSequence]) -> list[str]:
        """Drop every request that had a sequence in a failed batch; returns their ids."""
        rids = {seq.rid for seq in batch}
        self.waiting = deque(s for s in self.waiting if s.rid not in rids)
        for rid in rids:
            self.pending.pop(rid, None)
        return sorted(rids)
