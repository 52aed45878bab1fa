"""The prefix cache in a real server under concurrent traffic: requests that share queries, a
cache of 40 tokens that keeps evicting (queries of 9-13 tokens), and /flush_cache calls in between;
every answer equals transformers scoring each item alone."""

from __future__ import annotations

import concurrent.futures
import random

import pytest

requests = pytest.importorskip("requests")

from hf_reference import assert_scores_close, hf_scores  # noqa: E402
from proc_utils import Server  # noqa: E402

LABELS = [5, 9, 42]


@pytest.fixture(scope="module")
def model_path(tiny_model):
    return tiny_model("qwen3", "causal")


@pytest.fixture(scope="module")
def server(model_path):
    # 40 tokens: the tiny model keeps 2 layers x 2 x 2 KV heads x 16 x 4 bytes = 512 bytes per token.
    srv = Server(model_path, "--prefix-cache-size-mb", str(40 * 512 / 2**20))
    srv.wait_ready()
    yield srv
    srv.stop()


def test_concurrent_requests_sharing_and_evicting_score_exactly(server, model_path):
    info = requests.get(server.url + "/get_server_info", timeout=5).json()
    assert info["prefix_cache"].startswith("on: ") and info["prefix_cache"].endswith(" 40 tokens")
    rng = random.Random(0)
    queries = [[rng.randrange(5, 150) for _ in range(rng.randrange(9, 14))] for _ in range(5)]
    queries.append(queries[0][:6] + [77, 78, 79])  # a partial match of another query
    jobs = []
    for i in range(36):
        query = queries[i % len(queries)]
        items = [[rng.randrange(5, 150) for _ in range(rng.randrange(0, 5))] for _ in range(rng.choice([1, 3]))]
        jobs.append((query, items))
    expected = {}
    for query, items in jobs:
        for item, row in zip(items, hf_scores(model_path, query, items, LABELS)):
            expected[(tuple(query), tuple(item))] = row

    def send(job):
        query, items = job
        if rng.random() < 0.2:
            assert requests.post(server.url + "/flush_cache", timeout=30).status_code == 200
        resp = server.score(query=query, items=items, label_token_ids=LABELS)
        assert resp.status_code == 200, resp.text
        return job, resp.json()["scores"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for (query, items), scores in pool.map(send, jobs):
            assert_scores_close(scores, [expected[(tuple(query), tuple(item))] for item in items], 1e-5)
    stats = requests.get(server.url + "/get_server_info", timeout=5).json()["scheduler"]
    assert stats["prefix_cache_tokens"] <= 40
    # Whether the concurrent phase hit depends on how its requests were batched and when the flushes
    # fell; one query sent twice in turn must hit on the second request, and score the same.
    query, items = jobs[0]
    hits = []
    for _ in range(2):
        resp = server.score(query=query, items=items, label_token_ids=LABELS)
        assert resp.status_code == 200, resp.text
        assert_scores_close(resp.json()["scores"], [expected[(tuple(query), tuple(item))] for item in items], 1e-5)
        hits.append(requests.get(server.url + "/get_server_info", timeout=5).json()["scheduler"]["prefix_cache_hits"])
    assert hits[1] == hits[0] + 1
