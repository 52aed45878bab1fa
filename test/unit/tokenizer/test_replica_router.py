"""ReplicaRouter's split of a large MIS request across replicas, and the stats sum."""

from types import SimpleNamespace

from multiscore.messages import PoolingParams, SchedulerStats, TokenizedScoreRequest
from multiscore.tokenizer.replica_router import ReplicaRouter
from multiscore.tokenizer.tokenizer_manager import sum_stats


def _router(live: int, budget: int) -> ReplicaRouter:
    replicas = SimpleNamespace(processes=[None] * 3, alive=lambda i: i < live)
    router = ReplicaRouter.__new__(ReplicaRouter)
    router.replicas, router.max_prefill_tokens, router._restarting = replicas, budget, set()
    router.live = lambda: list(range(live))
    return router


def _req(n_items, mis=True):
    return TokenizedScoreRequest(rid="r", query_ids=[1, 2, 3, 4], items_ids=[[5, 6, 7]] * n_items,
                                 pooling=PoolingParams(), mis=mis)


def test_a_large_mis_request_is_split_into_contiguous_runs_one_per_live_replica():
    parts = _router(live=3, budget=50)._split(_req(60))  # 4 + 60 x 3 = 184 tokens: ceil(184 / 50) = 4, 3 replicas
    assert [p.rid for p in parts] == ["r.0", "r.1", "r.2"]
    assert sum(len(p.items_ids) for p in parts) == 60 and all(p.query_ids == [1, 2, 3, 4] for p in parts)
    assert max(len(p.items_ids) for p in parts) - min(len(p.items_ids) for p in parts) <= 1


def test_what_is_not_split():
    assert len(_router(live=3, budget=1000)._split(_req(60))) == 1  # fits one pass
    assert len(_router(live=1, budget=50)._split(_req(60))) == 1  # one live replica
    assert len(_router(live=3, budget=50)._split(_req(60, mis=False))) == 1  # single-item: sequences batch anyway


def test_stats_are_summed_and_each_replica_reported():
    a = SchedulerStats(forward_passes=3, forward_tokens=100, batch_tokens_counts=[1, 2] + [0] * (len(SchedulerStats().batch_tokens_counts) - 2))
    b = SchedulerStats(forward_passes=4, forward_tokens=50, batch_tokens_counts=[0, 1] + [0] * (len(SchedulerStats().batch_tokens_counts) - 2))
    total = sum_stats([a, b], [{"replica": 0, "alive": True}, {"replica": 1, "alive": True}])
    assert (total.forward_passes, total.forward_tokens) == (7, 150) and total.batch_tokens_counts[:2] == [1, 3]
    assert [r["forward_passes"] for r in total.replicas] == [3, 4]
