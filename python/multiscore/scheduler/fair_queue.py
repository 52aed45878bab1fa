"""The waiting sequences, and the order batches take them in.

``fair`` (the default): requests take turns. Each priority level (higher first, SGLang's
``priority``) keeps its requests in a ring; a batch takes one sequence from the request at the
front, moves it to the back, and so on, so a small request waits for about one sequence of each
request ahead of it, never for a whole huge one. A level runs only when every higher one is empty.
``fcfs``: sequences in arrival order, whatever their request (the behaviour before; a baseline).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Iterable

from multiscore.model_executor.forward_batch import ScoreSequence

POLICIES = ("fair", "fcfs")


class FairQueue:
    def __init__(self, policy: str = "fair") -> None:
        if policy not in POLICIES:
            raise ValueError(f"schedule policy {policy!r} is not one of {POLICIES}")
        self.policy = policy
        # priority -> ring of requests (rid -> its waiting sequences, in order). fcfs: one ring
        # entry per sequence run, in arrival order, at priority 0.
        self.levels: dict[int, OrderedDict[str, deque[ScoreSequence]]] = {}
        self._fcfs: deque[ScoreSequence] = deque()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, rid: str, priority: int, seqs: list[ScoreSequence]) -> None:
        self._count += len(seqs)
        if self.policy == "fcfs":
            self._fcfs.extend(seqs)
            return
        ring = self.levels.setdefault(priority, OrderedDict())
        ring.setdefault(rid, deque()).extend(seqs)

    def take(self, budget: int) -> list[ScoreSequence]:
        """Sequences for one forward pass: up to ``budget`` tokens (at least one sequence). Per-token
        outputs and pooled ones never share a batch (the model's last layer runs on every row or on
        the read-out rows only)."""
        batch: list[ScoreSequence] = []
        tokens = 0
        for seq in self._candidates():  # nothing is removed until the batch is chosen
            if batch and (tokens + len(seq) > budget):
                break
            if batch and seq.pooling.per_token != batch[0].pooling.per_token:
                continue  # a request's sequences share one pooling: the rest of it is skipped too
            batch.append(seq)
            tokens += len(seq)
        self._pop(batch)
        return batch

    def remove(self, rids: Iterable[str]) -> int:
        """Drop every waiting sequence of these requests; returns how many."""
        rids = set(rids)
        before = self._count
        if self.policy == "fcfs":
            self._fcfs = deque(s for s in self._fcfs if s.rid not in rids)
            self._count = len(self._fcfs)
            return before - self._count
        for priority, ring in list(self.levels.items()):
            for rid in rids & ring.keys():
                self._count -= len(ring.pop(rid))
            if not ring:
                del self.levels[priority]
        return before - self._count

    def _candidates(self):
        """The order a batch is filled in: the next sequence of each request in turn."""
        if self.policy == "fcfs":
            yield from self._fcfs  # take() stops iterating before _pop changes the deque
            return
        for priority in sorted(self.levels, reverse=True):
            ring = self.levels[priority]
            turn = list(ring.items())
            depth = 0
            while turn:
                for rid, seqs in turn:
                    if depth < len(seqs):
                        yield seqs[depth]
                turn = [(rid, seqs) for rid, seqs in turn if depth + 1 < len(seqs)]
                depth += 1

    def _pop(self, batch: list[ScoreSequence]) -> None:
        """Remove the chosen sequences (each request's are a prefix of its queue); a request that
        had its turn moves to the back of its ring."""
        self._count -= len(batch)
        if self.policy == "fcfs":
            chosen = {id(s) for s in batch}
            while self._fcfs and id(self._fcfs[0]) in chosen:  # the usual case: a prefix, O(batch)
                chosen.discard(id(self._fcfs.popleft()))
            if chosen:  # sequences of another pooling were skipped over
                self._fcfs = deque(s for s in self._fcfs if id(s) not in chosen)
            return
        for seq in batch:
            for priority, ring in self.levels.items():
                seqs = ring.get(seq.rid)
                if seqs and seqs[0] is seq:
                    seqs.popleft()
                    ring.move_to_end(seq.rid)
                    if not seqs:
                        del ring[seq.rid]
                    break
        for priority in [p for p, ring in self.levels.items() if not ring]:
            del self.levels[priority]
