"""Running in production: API key, limits, aborts on disconnect, timeouts, a dying model process,
graceful SIGTERM, /metrics and the access log — each against a real launch_server process."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest
import requests

from make_tiny_model import delimiter_id
from proc_utils import Server, alive

KEY = "s3cret-test-key-0123456789"
QUERY = "what is the capital of california"
ITEMS = ["sacramento", "los angeles", "san francisco"]


@pytest.fixture(scope="module")
def model_dir(tiny_model):
    return tiny_model("qwen3", "seqcls", num_labels=1)


def big_mis_body(num_items: int, item_len: int = 8) -> dict:
    """A token-id MIS request that splits into many packed sequences under a small token budget."""
    return {"query": list(range(10, 40)), "items": [[50 + (i + j) % 100 for j in range(item_len)] for i in range(num_items)]}


def server_info(server) -> dict:
    return requests.get(server.url + "/get_server_info", timeout=10, headers={"Authorization": f"Bearer {KEY}"}).json()


def wait_until(predicate, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


# ---- access and limits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(model_dir):
    server = Server(
        model_dir, "--num-threads", "1", "--max-items-per-request", "50", "--max-request-body-bytes", "20000",
        "--max-tokens-per-request", "300", env={"MULTISCORE_API_KEY": KEY},
    )
    server.wait_ready()
    yield server
    assert server.stop() == 0


def test_api_key_required_everywhere_but_health(guarded):
    auth = {"Authorization": f"Bearer {KEY}"}
    assert requests.get(guarded.url + "/health", timeout=10).status_code == 200
    assert requests.get(guarded.url + "/ping", timeout=10).status_code == 200  # SageMaker's probe: open too
    body = {"query": QUERY, "items": ITEMS}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}):
        r = requests.post(guarded.url + "/v1/score", json=body, headers=headers, timeout=10)
        assert r.status_code == 401, r.text
        assert r.json()["type"] == "AuthenticationError" and "Authorization: Bearer" in r.json()["message"]
        assert r.headers["www-authenticate"] == "Bearer"
    for path in ("/v1/models", "/get_model_info", "/get_server_info", "/model_info", "/server_info", "/metrics",
                 "/openapi.json", "/health_generate", "/version"):
        assert requests.get(guarded.url + path, timeout=10).status_code == 401, path
    assert requests.post(guarded.url + "/v1/score", json=body, headers=auth, timeout=10).status_code == 200
    assert requests.post(guarded.url + "/rerank", json={"query": QUERY, "documents": ITEMS}, headers=auth, timeout=10).status_code == 200


def test_api_key_never_leaks(guarded):
    info = server_info(guarded)
    assert "api_key" not in info["server_args"]
    with open(f"/proc/{info['scheduler_pid']}/cmdline", "rb") as f:
        assert KEY.encode() not in f.read()  # the model process's command line (visible in ps)
    requests.post(guarded.url + "/v1/score", json={}, headers={"Authorization": f"Bearer {KEY}x"}, timeout=10)
    assert KEY not in guarded.output()


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"query": QUERY, "items": ["dog"] * 51}, "51 items, more than --max-items-per-request=50"),
        ({"query": QUERY, "items": ["dog cat " * 20] * 10}, "more than --max-tokens-per-request=300"),
        ({"query": QUERY, "documents": ["dog"] * 51}, "more than --max-items-per-request=50"),
    ],
)
def test_request_limits_are_400(guarded, body, fragment):
    path = "/rerank" if "documents" in body else "/v1/score"
    r = requests.post(guarded.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 400 and fragment in r.json()["message"], r.text


def test_body_limit_is_413(guarded):
    auth = {"Authorization": f"Bearer {KEY}"}
    body = json.dumps({"query": QUERY, "items": ["dog"] * 5000}).encode()
    r = requests.post(guarded.url + "/v1/score", data=body, headers=auth, timeout=10)
    assert r.status_code == 413 and "--max-request-body-bytes=20000" in r.json()["message"]
    chunked = requests.post(guarded.url + "/v1/score", data=iter([body[:15000], body[15000:]]), headers=auth, timeout=10)
    assert chunked.status_code == 413  # no Content-Length: counted while reading
    assert requests.post(guarded.url + "/v1/score", json={"query": QUERY, "items": ITEMS}, headers=auth, timeout=10).status_code == 200


def test_metrics_and_access_log(guarded):
    auth = {"Authorization": f"Bearer {KEY}"}
    secret_text = "zebra unicorn prompt text"
    r = requests.post(guarded.url + "/v1/score", json={"query": secret_text, "items": ITEMS}, headers=auth, timeout=10)
    assert r.status_code == 200
    rid = r.headers["x-request-id"]
    metrics = requests.get(guarded.url + "/metrics", headers=auth, timeout=10)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'multiscore_requests_total{route="/v1/score",status="200"}' in text
    assert 'multiscore_requests_total{route="/v1/score",status="401"}' in text
    assert 'multiscore_request_latency_seconds_bucket{le="0.005",route="/v1/score"}' in text
    assert 'multiscore_request_items_total{route="/v1/score"}' in text
    assert "multiscore_request_tokens_total" in text and "multiscore_requests_in_flight" in text
    assert 'multiscore_batch_tokens_bucket{le="+Inf"}' in text and 'multiscore_batch_sequences_bucket{le="1"}' in text
    assert "multiscore_scheduler_queued_sequences 0.0" in text
    assert "multiscore_scheduler_forward_passes_total" in text
    assert wait_until(lambda: f"id={rid}" in guarded.output(), 5)
    line = next(l for l in guarded.output().splitlines() if f"id={rid}" in l)
    assert "route=/v1/score" in line and "status=200" in line and "items=3" in line
    assert "tokens=" in line and "latency_ms=" in line
    assert secret_text.split()[0] not in guarded.output()  # never the prompt text


# ---- queue bound, aborts, timeouts --------------------------------------------------------------


@pytest.fixture(scope="module")
def mis_server(model_dir):
    server = Server(
        model_dir, "--num-threads", "1", "--multi-item-scoring-delimiter", str(delimiter_id(model_dir)),
        "--max-prefill-tokens", "512", "--max-queued-requests", "2",
    )
    server.wait_ready()
    yield server
    assert server.stop() == 0


def _send_and_disconnect(server, body: dict, after_s: float) -> None:
    """POST over a raw socket, then close it before the answer: a client that gives up."""
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        time.sleep(after_s)


def test_disconnect_drops_the_queued_work(mis_server):
    before = server_info(mis_server)["scheduler"]
    body = big_mis_body(6000)  # ~130 packed sequences of <= 512 tokens
    _send_and_disconnect(mis_server, body, after_s=0.3)
    assert wait_until(lambda: server_info(mis_server)["scheduler"]["aborted_requests"] > before["aborted_requests"], 10)
    assert wait_until(lambda: server_info(mis_server)["scheduler"]["queued_sequences"] == 0, 5)
    after = server_info(mis_server)["scheduler"]
    assert after["aborted_sequences"] > before["aborted_sequences"]
    # The dropped sequences were never run: far fewer forward sequences than the request had.
    total = after["forward_sequences"] - before["forward_sequences"] + after["aborted_sequences"] - before["aborted_sequences"]
    assert after["forward_sequences"] - before["forward_sequences"] < total
    r = mis_server.score(query=QUERY, items=ITEMS)  # later requests are served
    assert r.status_code == 200 and len(r.json()["scores"]) == 3


def test_bounded_queue_answers_503_with_retry_after(mis_server):
    body = big_mis_body(1500)
    with_threads = []
    results = []

    def call():
        results.append(requests.post(mis_server.url + "/v1/score", json=body, timeout=120))

    for _ in range(8):
        t = threading.Thread(target=call)
        t.start()
        with_threads.append(t)
    for t in with_threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {200, 503} and 503 in statuses and 200 in statuses, statuses
    refused = next(r for r in results if r.status_code == 503)
    assert refused.headers["retry-after"] == "1" and "--max-queued-requests=2" in refused.json()["message"]
    ok = next(r for r in results if r.status_code == 200)
    assert len(ok.json()["scores"]) == 1500


def test_request_timeout_is_504_and_drops_the_work(model_dir):
    server = Server(model_dir, "--num-threads", "1", "--multi-item-scoring-delimiter", str(delimiter_id(model_dir)),
                    "--max-prefill-tokens", "512", "--request-timeout-s", "0.2")
    try:
        server.wait_ready()
        r = requests.post(server.url + "/v1/score", json=big_mis_body(6000), timeout=60)
        assert r.status_code == 504 and "--request-timeout-s=0.2" in r.json()["message"], r.text
        assert wait_until(lambda: server_info(server)["scheduler"]["queued_sequences"] == 0, 5)
        assert server_info(server)["scheduler"]["aborted_sequences"] > 0
        assert server.score(query=QUERY, items=ITEMS).status_code == 200
    finally:
        assert server.stop() == 0


# ---- faults and shutdown ----------------------------------------------------------------------


def test_dead_scheduler_gives_503s_then_a_nonzero_exit(model_dir):
    server = Server(model_dir, "--num-threads", "1", "--multi-item-scoring-delimiter", str(delimiter_id(model_dir)),
                    "--max-prefill-tokens", "512")
    server.wait_ready()
    try:
        pid = server_info(server)["scheduler_pid"]
        in_flight = []
        t = threading.Thread(target=lambda: in_flight.append(
            requests.post(server.url + "/v1/score", json=big_mis_body(8000), timeout=60)))
        t.start()
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        assert wait_until(lambda: requests.get(server.url + "/health", timeout=5).status_code == 503, 2.0)
        assert time.monotonic() - killed <= 2.5
        deep = requests.get(server.url + "/health_generate", timeout=5)
        assert deep.status_code == 503 and "the model did not run a pass" in deep.json()["message"], deep.text
        t.join(30)
        assert not t.is_alive(), "the in-flight request hung"
        assert in_flight[0].status_code == 503 and "scheduler" in in_flight[0].json()["message"], in_flight[0].text
        assert server.proc.wait(30) != 0
        assert "the scheduler (model) process died" in server.output()
    finally:
        if server.proc.poll() is None:
            server.proc.kill()


def test_sigterm_drains_in_flight_requests_then_exits_0(model_dir):
    server = Server(model_dir, "--num-threads", "1", "--multi-item-scoring-delimiter", str(delimiter_id(model_dir)),
                    "--max-prefill-tokens", "512")
    server.wait_ready()
    results = []
    t = threading.Thread(target=lambda: results.append(
        requests.post(server.url + "/v1/score", json=big_mis_body(6000), timeout=60)))
    t.start()
    assert wait_until(lambda: server_info(server)["scheduler"]["queued_sequences"] > 0, 10)
    server.proc.send_signal(signal.SIGTERM)
    t.join(60)
    assert results and results[0].status_code == 200, results and results[0].text
    assert len(results[0].json()["scores"]) == 6000
    assert server.proc.wait(30) == 0
    assert not alive(server.proc.pid)
