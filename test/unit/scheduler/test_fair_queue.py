"""FairQueue: requests take turns within a priority, higher priorities first; fcfs as a baseline."""

import pytest

from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.scheduler.fair_queue import FairQueue


def _seqs(rid, n, tokens=10, per_token=False):
    pooling = PoolingParams(per_token=per_token) if per_token else PoolingParams()
    return [ScoreSequence(rid, [1] * tokens, i, 1, pooling) for i in range(n)]


def test_a_small_request_waits_for_one_turn_not_for_a_huge_request():
    q = FairQueue()
    q.add("huge", 0, _seqs("huge", 100))
    assert [s.rid for s in q.take(30)] == ["huge"] * 3
    q.add("small", 0, _seqs("small", 1))
    assert [s.rid for s in q.take(30)] == ["huge", "small", "huge"]
    assert len(q) == 95 and all(s.rid == "huge" for s in q.take(1000))


def test_fcfs_keeps_arrival_order():
    q = FairQueue("fcfs")
    q.add("huge", 0, _seqs("huge", 5))
    q.add("small", 0, _seqs("small", 1))
    assert [s.rid for s in q.take(30)] == ["huge"] * 3
    assert [s.rid for s in q.take(30)] == ["huge", "huge", "small"]


def test_higher_priority_first_and_turns_within_a_priority():
    q = FairQueue()
    q.add("low", 0, _seqs("low", 3))
    q.add("high1", 5, _seqs("high1", 2))
    q.add("high2", 5, _seqs("high2", 2))
    assert [s.rid for s in q.take(1000)] == ["high1", "high2", "high1", "high2", "low", "low", "low"]


def test_sequences_of_a_request_keep_their_order_across_batches():
    q = FairQueue()
    q.add("a", 0, _seqs("a", 4))
    q.add("b", 0, _seqs("b", 4))
    taken = [s for _ in range(8) for s in q.take(10)]
    assert [(s.rid, s.item_start) for s in taken] == [(r, i) for i in range(4) for r in ("a", "b")]


def test_per_token_and_pooled_requests_never_share_a_batch_and_none_is_lost():
    q = FairQueue()
    q.add("pooled", 0, _seqs("pooled", 2))
    q.add("tokens", 0, _seqs("tokens", 2, per_token=True))
    q.add("pooled2", 0, _seqs("pooled2", 1))
    first = q.take(1000)
    assert {s.rid for s in first} == {"pooled", "pooled2"} and len(first) == 3
    assert [s.rid for s in q.take(1000)] == ["tokens", "tokens"] and len(q) == 0


def test_fcfs_skips_over_another_pooling_and_loses_nothing():
    q = FairQueue("fcfs")
    q.add("pooled", 0, _seqs("pooled", 1))
    q.add("tokens", 0, _seqs("tokens", 2, per_token=True))
    q.add("pooled2", 0, _seqs("pooled2", 2))
    assert [s.rid for s in q.take(1000)] == ["pooled", "pooled2", "pooled2"]  # not a prefix of the queue
    assert len(q) == 2 and [s.rid for s in q.take(1000)] == ["tokens", "tokens"] and len(q) == 0
    q.add("x", 0, _seqs("x", 3))
    assert [s.item_start for s in q.take(20)] == [0, 1] and [s.item_start for s in q.take(20)] == [2]


def test_remove_drops_a_request_wherever_it_waits():
    q = FairQueue()
    q.add("a", 0, _seqs("a", 3))
    q.add("b", 2, _seqs("b", 2))
    assert q.remove(["a", "nobody"]) == 3 and len(q) == 2
    assert q.remove(["b"]) == 2 and q.take(100) == [] and q.levels == {}


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="schedule policy 'lifo'"):
        FairQueue("lifo")
