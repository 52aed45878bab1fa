"""SchedulePolicy: request -> sequences, token-budgeted batches, per-request answers."""

import pytest
import torch

from multiscore.messages import PoolingParams, TokenizedScoreRequest
from multiscore.scheduler.policy import SchedulePolicy, split_into_sequences

D = 0


def _req(rid="r", query=(1, 2, 3), items=((4,), (5, 6)), item_first=False, labels=None, mis=True):
    return TokenizedScoreRequest(
        rid=rid, query_ids=list(query), items_ids=[list(i) for i in items],
        pooling=PoolingParams(label_token_ids=labels), mis=mis, item_first=item_first,
    )


def test_single_item_mode_makes_one_sequence_per_item():
    seqs = split_into_sequences(_req(mis=False), None, 100)
    assert [s.input_ids for s in seqs] == [[1, 2, 3, 4], [1, 2, 3, 5, 6]]
    assert [(s.item_start, s.num_items, s.query_len) for s in seqs] == [(0, 1, None), (1, 1, None)]


def test_item_first_puts_the_item_before_the_query():
    seqs = split_into_sequences(_req(item_first=True, mis=False), None, 100)
    assert [s.input_ids for s in seqs] == [[4, 1, 2, 3], [5, 6, 1, 2, 3]]


def test_mis_packs_all_items_in_one_sequence_when_they_fit():
    (seq,) = split_into_sequences(_req(), D, 100)
    assert seq.input_ids == [1, 2, 3, D, 4, D, 5, 6, D]
    assert (seq.query_len, seq.item_lens, seq.item_start, seq.num_items) == (3, [1, 2], 0, 2)


def test_mis_scores_a_single_item_as_a_plain_sequence():
    (seq,) = split_into_sequences(_req(items=[[4, 5]]), D, 100)
    assert seq.input_ids == [1, 2, 3, 4, 5] and seq.query_len is None and seq.num_items == 1


def test_mis_splits_over_the_limit_and_repeats_the_full_query():
    items = [[10 + i] * 3 for i in range(10)]  # 10 items of 3 tokens
    seqs = split_into_sequences(_req(items=items), D, 3 + 1 + 4 * 3)  # room for 3 items per sequence
    assert [s.num_items for s in seqs] == [3, 3, 3, 1]
    assert [s.item_start for s in seqs] == [0, 3, 6, 9]
    for s in seqs:
        assert s.input_ids[:3] == [1, 2, 3] and s.query_len == 3 and len(s) <= 16


@pytest.mark.parametrize("order, batches", [("fair", [["a", "b"], ["a"]]), ("fcfs", [["a", "a"], ["b"]])])
def test_batches_respect_the_token_budget_and_mix_requests(order, batches):
    """fair: requests take turns (a, b, then a again); fcfs: arrival order. 10 tokens a batch."""
    policy = SchedulePolicy(max_prefill_tokens=10, pack_limit=100, delimiter=None, order=order)
    policy.add_request(_req("a", items=[[4], [5]], mis=False))  # two sequences of 4 tokens
    policy.add_request(_req("b", items=[[6, 7]], mis=False))  # one of 5
    assert [[s.rid for s in policy.schedule()] for _ in batches] == batches
    assert policy.schedule() == []


def test_an_oversized_sequence_still_runs_alone():
    policy = SchedulePolicy(max_prefill_tokens=2, pack_limit=100, delimiter=None)
    policy.add_request(_req(items=[[4, 5, 6]], mis=False))
    assert len(policy.schedule()) == 1


def test_answers_are_assembled_in_item_order_across_sequences():
    policy = SchedulePolicy(max_prefill_tokens=100, pack_limit=3 + 1 + 2 * 2, delimiter=D)
    policy.add_request(_req("a", items=[[4], [5], [6], [7]]))  # split into 2 MIS sequences of 2 items
    policy.add_request(_req("b", items=[[8]]))
    batch = policy.schedule()
    assert [(s.rid, s.item_start, s.num_items) for s in batch] == [("a", 0, 2), ("b", 0, 1), ("a", 2, 2)]  # turns
    batch = [batch[0], batch[2], batch[1]]  # a's two sequences, then b's
    # Finish b's and a's second sequence first: a must not answer until all of its sequences are done.
    out = policy.process_output(batch[1:], [torch.tensor([[3.0], [4.0]]), torch.tensor([[9.0]])])
    assert [(o.rid, o.outputs) for o in out] == [("b", [[9.0]])]
    (a,) = policy.process_output(batch[:1], [torch.tensor([[1.0], [2.0]])])
    assert a.rid == "a" and a.outputs == [[1.0], [2.0], [3.0], [4.0]]
    assert a.prompt_tokens == sum(len(s) for s in batch[:2])


def test_a_request_without_items_is_answered_at_once():
    policy = SchedulePolicy(max_prefill_tokens=100, pack_limit=100, delimiter=D)
    out = policy.add_request(_req(items=[]))
    assert out.outputs == [] and not policy.has_work()


def test_failed_batch_drops_its_requests_only():
    policy = SchedulePolicy(max_prefill_tokens=5, pack_limit=100, delimiter=None)
    policy.add_request(_req("a", items=[[4], [5]], mis=False))
    policy.add_request(_req("b", items=[[6]], mis=False))
    batch = policy.schedule()  # a's first sequence only
    assert policy.fail_batch(batch) == ["a"]
    assert policy.num_waiting_sequences == 1 and list(policy.pending) == ["b"]
    assert [s.rid for s in policy.schedule()] == ["b"]


def test_abort_drops_queued_sequences_and_tells_unknown_requests_apart():
    policy = SchedulePolicy(max_prefill_tokens=100, pack_limit=100, delimiter=None)
    policy.add_request(_req("a", items=[[4], [5], [6]], mis=False))
    policy.add_request(_req("b", items=[[7]], mis=False))
    assert policy.num_waiting_sequences == 4
    assert policy.abort("a") == 3
    assert policy.abort("a") is None and policy.abort("nobody") is None
    assert [s.rid for s in policy.schedule()] == ["b"]


def test_shared_query_packs_single_item_requests_as_mis_with_a_placeholder_delimiter():
    (seq,) = split_into_sequences(_req(mis=False), None, 100, share_query=True)
    assert seq.input_ids == [1, 2, 3, 0, 4, 0, 5, 6, 0]
    assert (seq.query_len, seq.item_lens, seq.item_start, seq.num_items) == (3, [1, 2], 0, 2)
    (seq,) = split_into_sequences(_req(mis=False), 9, 100, share_query=True)  # a configured delimiter is used
    assert seq.input_ids == [1, 2, 3, 9, 4, 9, 5, 6, 9]


def test_shared_query_keeps_one_sequence_per_item_where_nothing_is_shared():
    cases = [
        _req(mis=False, item_first=True),  # the item comes first: no common prefix
        _req(mis=False, items=[[4, 5]]),  # one item
        _req(mis=False, query=()),  # no query (embeddings)
    ]
    for req in cases:
        seqs = split_into_sequences(req, None, 100, share_query=True)
        assert all(s.query_len is None and s.num_items == 1 for s in seqs)


def test_shared_query_reports_the_single_item_usage_and_assembles_in_order():
    policy = SchedulePolicy(max_prefill_tokens=100, pack_limit=100, delimiter=None, share_query=True)
    assert policy.add_request(_req(mis=False, items=[[4], [5, 6], [7]])) is None
    (batch,) = [policy.schedule()]
    assert len(batch) == 1 and batch[0].num_items == 3
    (done,) = policy.process_output(batch, [torch.tensor([[0.1], [0.2], [0.3]])])
    assert done.prompt_tokens == 3 * 3 + 4  # what the client asked for: the query once per item
    torch.testing.assert_close(torch.tensor(done.outputs), torch.tensor([[0.1], [0.2], [0.3]]))
