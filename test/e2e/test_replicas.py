"""--dp-size: several model replicas behind one Engine / server. Scores equal one replica's, work
reaches both, a large MIS request is split across them (scores unchanged), and a replica killed
mid-traffic is restarted while every request is still answered exactly."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time

import pytest

from hf_reference import assert_scores_close
from multiscore import Engine

LABELS = [5, 9, 42]
QUERY = [20, 21, 22, 23]


def _items(n, seed):
    return [[10 + (seed * 7 + i) % 120, 11 + i % 5] for i in range(n)]


@pytest.fixture(scope="module")
def path(tiny_model):
    return tiny_model("qwen3", "causal")


@pytest.fixture(scope="module")
def reference(path):
    with Engine(str(path), device="cpu", num_threads=1, enable_mis=True) as one:
        yield lambda items: one.score(QUERY, items, label_token_ids=LABELS).scores


def test_two_replicas_share_work_and_split_a_large_mis_request(path, reference):
    with Engine(str(path), device="cpu", dp_size=2, enable_mis=True, max_prefill_tokens=64) as engine:
        pids = engine.scheduler_pids
        assert len(set(pids)) == 2 and all(p > 0 for p in pids)
        info = engine.get_server_info()["scheduler"]
        assert [r["replica"] for r in info["replicas"]] == [0, 1] and all(r["alive"] for r in info["replicas"])
        big = _items(400, 0)  # ~1,600 tokens: more than one pass takes, so split across both replicas
        before = [r["forward_passes"] for r in engine.get_server_info()["scheduler"]["replicas"]]
        assert_scores_close(engine.score(QUERY, big, label_token_ids=LABELS).scores, reference(big), 1e-5)
        after = [r["forward_passes"] for r in engine.get_server_info()["scheduler"]["replicas"]]
        assert all(a > b for a, b in zip(after, before))  # both replicas ran part of it
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            small = [_items(3, s) for s in range(40)]
            for items, scores in zip(small, pool.map(lambda it: engine.score(QUERY, it, label_token_ids=LABELS).scores, small)):
                assert_scores_close(scores, reference(items), 1e-5)


def test_a_killed_replica_is_restarted_and_no_request_is_lost(path, reference):
    with Engine(str(path), device="cpu", dp_size=2, enable_mis=True, max_prefill_tokens=64) as engine:
        victim = engine.scheduler_pids[1]
        jobs = [_items(150, s) for s in range(12)]
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(engine.score, QUERY, items, label_token_ids=LABELS) for items in jobs]
            time.sleep(0.05)
            os.kill(victim, signal.SIGKILL)
            results = [f.result(timeout=120).scores for f in futures]
        for items, scores in zip(jobs, results):
            assert_scores_close(scores, reference(items), 1e-5)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            replicas = engine.get_server_info()["scheduler"]["replicas"]
            if all(r["alive"] for r in replicas) and victim not in engine.scheduler_pids:
                break
            time.sleep(0.2)
        assert victim not in engine.scheduler_pids and all(r["alive"] for r in replicas)
        stats = engine.get_server_info()["scheduler"]
        assert stats["replica_restarts"] == 1 and stats["resent_requests"] > 0  # it died holding work
        assert_scores_close(engine.score(QUERY, jobs[0], label_token_ids=LABELS).scores, reference(jobs[0]), 1e-5)


def test_launch_server_with_two_replicas_reports_each(path, reference):
    import requests

    from proc_utils import Server

    server = Server(path, "--dp-size", "2", "--enable-mis")
    try:
        server.wait_ready()
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        resp = server.score(query=QUERY, items=_items(5, 3), label_token_ids=LABELS)
        assert resp.status_code == 200
        assert_scores_close(resp.json()["scores"], reference(_items(5, 3)), 1e-5)
        metrics = requests.get(server.url + "/metrics", timeout=10).text
        assert 'multiscore_replica_up{replica="0"} 1.0' in metrics and 'multiscore_replica_up{replica="1"} 1.0' in metrics
        info = requests.get(server.url + "/get_server_info", timeout=10).json()
        assert info["server_args"]["dp_size"] == 2 and len(info["scheduler"]["replicas"]) == 2
    finally:
        server.stop()
