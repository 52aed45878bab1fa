"""Fair scheduling through a real Engine (scheduler process): a small request sent while a huge
one runs is answered before the huge one ends; with --schedule-policy fcfs it waits for all of it
(the contrast shows the test can fail). No timings are asserted, only the order of completion."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from hf_reference import assert_scores_close
from multiscore import Engine

LABELS = [5, 9, 42]


def _huge_then_small(engine) -> tuple[bool, list]:
    """-> (whether sequences of the huge request still waited when the small one was answered, small scores)."""
    huge_items = [[10 + i % 100, 11, 12] for i in range(3000)]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        passes = engine.get_server_info()["scheduler"]["forward_passes"]
        huge = pool.submit(engine.score, [20, 21, 22], huge_items, label_token_ids=LABELS)
        while engine.get_server_info()["scheduler"]["forward_passes"] < passes + 2:  # the huge one is running
            time.sleep(0.005)
        small = engine.score([30, 31], [[40, 41]], label_token_ids=LABELS)
        running = engine.get_server_info()["scheduler"]["queued_sequences"] > 0  # fcfs: the small one came last
        assert len(huge.result().scores) == 3000
    return running, small.scores


@pytest.mark.parametrize("policy, small_goes_first", [("fair", True), ("fcfs", False)])
def test_a_small_request_does_not_wait_for_a_huge_one(tiny_model, policy, small_goes_first):
    path = tiny_model("qwen3", "causal")
    with Engine(str(path), device="cpu", num_threads=1, enable_mis=True, max_prefill_tokens=128,
                schedule_policy=policy) as engine:
        running, scores = _huge_then_small(engine)
        expected = engine.score([30, 31], [[40, 41]], label_token_ids=LABELS).scores
    assert running is small_goes_first
    assert_scores_close(scores, expected, 1e-5)


def test_priority_is_accepted_by_the_engine(tiny_model):
    path = tiny_model("qwen3", "causal")
    with Engine(str(path), device="cpu", num_threads=1) as engine:
        plain = engine.score([30, 31], [[40], [41]], label_token_ids=LABELS).scores
        assert_scores_close(engine.score([30, 31], [[40], [41]], label_token_ids=LABELS, priority=7).scores, plain, 1e-5)
