"""A shortened ``benchmark/stress.py`` against a real ``launch_server`` process.

200 seeded requests (MIS and single-item ``/v1/score``, ``/rerank`` / ``/v1/rerank`` / ``/v2/rerank``,
~12 % invalid bodies) at concurrency 16, each checked against the answer of the same body sent
alone: nothing lost, no answer changed by concurrent batching (scores to 1e-5), every invalid body
a 4xx with the error envelope, and the server still healthy afterwards.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

import pytest

requests = pytest.importorskip("requests")

_BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmark"
if str(_BENCH) not in sys.path:
    sys.path.insert(0, str(_BENCH))

import stress  # noqa: E402
from make_tiny_model import delimiter_id  # noqa: E402
from proc_utils import Server, descendants, wait_gone  # noqa: E402

API_KEY = "stress-test-key"  # the server accepts --api-key; every request carries the bearer token
NUM_REQUESTS, CONCURRENCY, SEED = 200, 16, 7
DEADLINE_S = 90.0  # both phases together; the work itself takes a few seconds


@pytest.fixture(scope="module")
def server(tiny_model):
    path = tiny_model("qwen3", "seqcls", num_labels=1)
    srv = Server(path, "--multi-item-scoring-delimiter", str(delimiter_id(path)), "--num-threads", "1",
                 "--api-key", API_KEY, "--log-level", "warning")
    srv.wait_ready()
    yield srv
    children = descendants(srv.proc.pid)
    assert srv.stop() == 0, srv.output()[-3000:]
    assert not wait_gone(children), "processes left behind after SIGTERM"


@pytest.fixture(scope="module")
def model_info(server):
    info = stress.get_json(server.url, "/get_model_info", API_KEY)
    assert info is not None
    return info


@pytest.fixture(scope="module")
def workload(model_info):
    return stress.make_workload(NUM_REQUESTS, SEED, 0.12, model_info["vocab_size"], model_info["context_length"])


@pytest.fixture(scope="module")
def stress_run(server, workload):
    deadline = time.monotonic() + DEADLINE_S
    reference = stress.sequential_answers(server.url, workload, API_KEY, timeout_s=30, deadline=deadline)
    outcomes, _ = stress.run_concurrent(server.url, workload, CONCURRENCY, API_KEY, timeout_s=30,
                                        deadline=deadline)
    return reference, outcomes, stress.check(workload, reference, outcomes)


def test_workload_is_seeded_and_mixed(workload, model_info):
    again = stress.make_workload(NUM_REQUESTS, SEED, 0.12, model_info["vocab_size"], model_info["context_length"])
    assert again == workload
    counts = {k: sum(r.kind == k for r in workload) for k in stress.KINDS}
    assert all(counts[k] > 0 for k in stress.KINDS), counts
    assert 0.05 * NUM_REQUESTS <= counts["invalid"] <= 0.2 * NUM_REQUESTS, counts
    assert len({r.key for r in workload if r.kind != "invalid"}) < NUM_REQUESTS - counts["invalid"]  # repeats
    for r in workload:
        if r.kind == "mis":
            assert 2 <= len(json.loads(r.body)["items"]) <= 30
        elif r.kind == "rerank":
            assert r.path in stress.RERANK_PATHS and 2 <= len(json.loads(r.body)["documents"]) <= 20


def test_concurrent_answers_equal_sequential(stress_run):
    _, _, report = stress_run
    problems = "\n".join(f"#{i} {kind} ({what}): {msg}" for i, kind, what, msg in report.problems[:10])
    assert report.no_reference == 0, problems
    assert report.lost == 0, problems
    assert report.mismatches == 0, problems
    assert report.ok


def test_every_invalid_body_is_a_4xx_with_the_envelope(stress_run, workload):
    _, outcomes, report = stress_run
    assert report.invalid_non_4xx() == 0
    for req, out in zip(workload, outcomes):
        if req.kind == "invalid":
            assert out is not None and 400 <= out.status < 500, (req.what, out)
            assert stress.envelope_problem(out.status, out.body) is None, (req.what, out.body)


def test_valid_kinds_all_answered_200(stress_run):
    _, _, report = stress_run
    for kind in ("mis", "single", "rerank"):
        stats = report.by_kind[kind]
        assert stats.status == {"200": stats.sent}, (kind, stats.status)


def test_check_catches_changed_answers(stress_run, workload):
    """The checks cannot pass vacuously: a score moved by 2e-5, a swapped rerank order, a 500 for an
    invalid body and a missing answer are each reported."""
    reference, outcomes, _ = stress_run
    outcomes = list(outcomes)
    mis = next(i for i, r in enumerate(workload) if r.kind == "mis")
    doc = json.loads(outcomes[mis].body)
    doc["scores"][0][0] += 2e-5
    outcomes[mis] = stress.Outcome(200, json.dumps(doc).encode(), 0.01)
    rr = next(i for i, r in enumerate(workload) if r.kind == "rerank"
              and len({x["relevance_score"] for x in json.loads(outcomes[i].body)["results"][:2]}) == 2)
    doc = json.loads(outcomes[rr].body)
    doc["results"][0], doc["results"][1] = doc["results"][1], doc["results"][0]
    outcomes[rr] = stress.Outcome(200, json.dumps(doc).encode(), 0.01)
    bad = next(i for i, r in enumerate(workload) if r.kind == "invalid")
    outcomes[bad] = stress.Outcome(500, b'{"object":"error","message":"boom","type":"X","code":500}', 0.01)
    gone = next(i for i in range(len(workload)) if i not in (mis, rr, bad))
    outcomes[gone] = None
    report = stress.check(workload, reference, outcomes)
    assert report.lost == 1 and report.mismatches == 3 and not report.ok
    assert report.invalid_non_4xx() == 1


def test_constants_are_not_json_on_either_parser(server):
    """NaN is refused by orjson and, for a body with a 20-digit number, by Python's json as well."""
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    for body in (b'{"query": [5], "items": [[7]], "x": NaN}', b'{"query": [18446744073709551616], "items": [[7]], "x": NaN}'):
        resp = requests.post(server.url + "/v1/score", data=body, headers=headers, timeout=30)
        assert resp.status_code == 400 and "not valid JSON" in resp.json()["message"], resp.text


def test_server_healthy_after_stress(server, stress_run):
    assert server.proc.poll() is None
    resp = requests.get(server.url + "/health", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert resp.status_code == 200
    # and it still scores
    resp = requests.post(server.url + "/v1/score", json={"query": "the dog", "items": ["a cat", "the sun"]},
                         headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
    assert resp.status_code == 200 and len(resp.json()["scores"]) == 2


@pytest.mark.parametrize("path, body", [
    ("/v1/score", b'{"query": [5, 9223372036854775808], "items": [[7]]}'),
    ("/v1/score", b'{"query": [5, 18446744073709551616], "items": [[7]]}'),  # past 2**64: orjson would read a float
    ("/classify", b'{"input": [[5, 18446744073709551616]]}'),
])
def test_token_id_beyond_int64_is_a_400(server, path, body):
    """Found by this stress test: ids past int64 once overflowed numpy and answered 500."""
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    resp = requests.post(server.url + path, data=body, headers=headers, timeout=30)
    assert resp.status_code == 400, resp.text
    assert "outside the vocabulary" in resp.json()["message"]
    assert stress.envelope_problem(resp.status_code, resp.content) is None
