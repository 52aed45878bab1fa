"""Stress test: a bounded burst of mixed valid and invalid requests against a real server (loopback only).

The workload is a deterministic, seeded mix of
- ``mis``:     ``POST /v1/score``, a text query and 2..30 text items (one MIS pass per request);
- ``single``:  ``POST /v1/score`` with one item (``"items": "text"`` or ``["text"]``);
- ``rerank``:  ``POST /rerank`` / ``/v1/rerank`` / ``/v2/rerank``, a query and 2..20 documents,
  optionally ``top_n`` and ``return_documents``;
- ``invalid``: about 12 % of the requests: malformed JSON, invalid UTF-8, an empty body, non-object
  JSON, wrong types, missing fields, empty ``documents``, token ids outside the vocabulary,
  negative ``top_n``, a query longer than the context, ... on the score and rerank routes.

Phase 1 sends each distinct valid body ONCE, one request at a time: the reference answers.
Phase 2 sends every request of the workload from ``--concurrency`` threads (one
``requests.Session`` each) and checks that
- no response is lost (a connection error, a timeout, or no answer by ``--max-seconds`` is lost);
- every valid request answers 200 with the reference answer: scores within ``--tolerance``
  (batching may change float rounding), rerank indices in the same order unless their scores tie
  within the tolerance, the same usage;
- every invalid request answers a 4xx with the JSON error envelope
  ``{"object": "error", "message", "type", "code"}``;
- ``GET /health`` still answers 200 afterwards.
It prints a table by kind (statuses, lost, mismatches, p50/p99 latency in phase 2, and req/s: that
kind's answers per second of phase 2, so the ``all`` row is the throughput), items/s, the
scheduler's batching counters and the resident memory (VmRSS) of the server process and its
scheduler child before and after phase 2. Exit status 1 if anything was lost, mismatched or
answered wrongly.

By default it builds a tiny random Qwen3ForSequenceClassification (1 label) and starts its own
``launch_server`` on a free loopback port (MIS on, ``--num-threads 1``); ``--url`` targets a running
loopback server instead. ``--api-key KEY`` sends ``Authorization: Bearer KEY`` on every request (and
is passed to the server it starts). ``--max-seconds`` bounds both phases together (server start-up
not included).

    python benchmark/stress.py [--requests 2000] [--concurrency 64] [--seed 0] [--max-seconds 600]
        [--url http://127.0.0.1:30000] [--api-key KEY] [--invalid-fraction 0.12] [--markdown]

The workload (stress_workload.py), the runner (here) and the checks (stress_checks.py, with the
report) are functions (``make_workload``, ``sequential_answers``, ``run_concurrent``, ``check``) so
that ``test/e2e/test_stress.py`` runs a shortened version; stress_server.py starts the server.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
for _p in (HERE.parent / "scripts", HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
from stress_checks import Outcome, check, envelope_problem, print_report  # noqa: E402
from stress_server import (  # noqa: E402
    LocalServer,
    auth_headers,
    get_json,
    health_status,
    listening_pid,
    rss_kib,
    scheduler_pid,
)
from stress_workload import KINDS, RERANK_PATHS, Request, make_workload  # noqa: E402

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# What test/e2e/test_stress.py uses (most of it lives in stress_workload / stress_checks / stress_server).
__all__ = ["KINDS", "RERANK_PATHS", "Outcome", "check", "envelope_problem", "get_json", "make_workload",
           "run_concurrent", "sequential_answers"]


# ---- running ----------------------------------------------------------------------------------

def _send(session, url: str, req: Request, headers: dict, timeout_s: float) -> Outcome:
    import requests

    t0 = time.perf_counter()
    try:
        resp = session.post(url + req.path, data=req.body, headers=headers, timeout=(10.0, timeout_s))
        return Outcome(resp.status_code, resp.content, time.perf_counter() - t0)
    except requests.RequestException as e:
        return Outcome(None, b"", time.perf_counter() - t0, f"{type(e).__name__}: {e}")


def sequential_answers(url: str, workload: list[Request], api_key: str | None = None,
                       timeout_s: float = 60.0, deadline: float | None = None) -> dict[tuple, Outcome]:
    """The answer of each distinct valid body, one request at a time (``deadline``: time.monotonic())."""
    import requests

    answers: dict[tuple, Outcome] = {}
    headers = auth_headers(api_key)
    with requests.Session() as session:
        for req in workload:
            if req.kind == "invalid" or req.key in answers:
                continue
            if deadline is not None and time.monotonic() >= deadline:
                break
            left = timeout_s if deadline is None else max(0.1, min(timeout_s, deadline - time.monotonic()))
            answers[req.key] = _send(session, url, req, headers, left)
    return answers


def run_concurrent(url: str, workload: list[Request], concurrency: int, api_key: str | None = None,
                   timeout_s: float = 60.0, deadline: float | None = None) -> tuple[list[Outcome | None], float]:
    """Every request of ``workload`` from ``concurrency`` threads, one ``requests.Session`` each.

    Returns (outcomes in workload order, wall seconds). An outcome is None where the request was
    not answered by ``deadline`` (still in flight, or never sent): the threads are daemons, so a
    stuck request cannot hold the caller past the deadline.
    """
    import requests

    outcomes: list[Outcome | None] = [None] * len(workload)
    counter = itertools.count()
    lock = threading.Lock()
    stop = threading.Event()
    headers = auth_headers(api_key)

    def worker() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                with lock:
                    i = next(counter)
                if i >= len(workload):
                    return
                left = timeout_s if deadline is None else min(timeout_s, deadline - time.monotonic())
                if left <= 0:
                    return
                outcomes[i] = _send(session, url, workload[i], headers, left)

    threads = [threading.Thread(target=worker, name=f"stress-{k}", daemon=True) for k in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    stop.set()
    wall = time.perf_counter() - t0
    return list(outcomes), wall  # a copy: late answers of abandoned threads do not change the report


# ---- main -------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000, help="requests in the concurrent phase")
    p.add_argument("--concurrency", type=int, default=64, help="client threads (one HTTP connection each)")
    p.add_argument("--seed", type=int, default=0, help="seed of the workload")
    p.add_argument("--invalid-fraction", type=float, default=0.12, help="share of invalid bodies")
    p.add_argument("--max-seconds", type=float, default=600.0,
                   help="hard bound on both phases together; what is unanswered then counts as lost")
    p.add_argument("--request-timeout", type=float, default=60.0, help="per-request read timeout (s)")
    p.add_argument("--tolerance", type=float, default=1e-5, help="absolute tolerance of score comparisons")
    p.add_argument("--url", default=None, help="a running loopback server (default: start one)")
    p.add_argument("--api-key", default=None, help="send 'Authorization: Bearer KEY' (and start the server with it)")
    p.add_argument("--num-threads", type=int, default=1, help="--num-threads of the server it starts")
    p.add_argument("--server-flag", action="append", default=[], metavar="FLAG",
                   help="one more flag for the server it starts (repeatable), e.g. --server-flag=--disable-radix-cache")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = p.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.max_seconds <= 0:
        p.error("--requests, --concurrency and --max-seconds must be positive")
    if args.url is not None:
        host = urllib.parse.urlsplit(args.url).hostname
        if host not in LOOPBACK_HOSTS:
            p.error(f"--url must be a loopback address ({', '.join(sorted(LOOPBACK_HOSTS))}), got {host!r}")
        args.url = args.url.rstrip("/")
    return args


def run(args, url: str, server_pid: int | None, server: LocalServer | None = None) -> bool:
    info = get_json(url, "/get_model_info", args.api_key)
    if info is None:
        print(f"GET {url}/get_model_info failed: is the server up (and the API key right)?")
        return False
    workload = make_workload(args.requests, args.seed, args.invalid_fraction, info["vocab_size"],
                             info.get("context_length"))
    counts = {k: sum(r.kind == k for r in workload) for k in KINDS}
    distinct = len({r.key for r in workload if r.kind != "invalid"})
    print(f"model: {info.get('model_path')} ({info.get('architecture')}), MIS delimiter "
          f"{info.get('multi_item_scoring_delimiter')}, {url}")
    print(f"workload: seed {args.seed}, {args.requests} requests at concurrency {args.concurrency}: "
          + ", ".join(f"{counts[k]} {k}" for k in KINDS) + f"; {distinct} distinct valid bodies")

    deadline = time.monotonic() + args.max_seconds
    t0 = time.perf_counter()
    reference = sequential_answers(url, workload, args.api_key, args.request_timeout, deadline)
    seq_s = time.perf_counter() - t0
    print(f"sequential phase: {len(reference)} reference answers in {seq_s:.2f} s")

    server_info = get_json(url, "/get_server_info", args.api_key) or {}
    before_stats = server_info.get("scheduler")
    sched_pid = scheduler_pid(server_pid) or server_info.get("scheduler_pid")  # the field, where the server has it
    before_rss = rss_kib(server_pid), rss_kib(sched_pid)
    outcomes, wall = run_concurrent(url, workload, args.concurrency, args.api_key, args.request_timeout, deadline)
    after_rss = rss_kib(server_pid), rss_kib(sched_pid)
    after_stats = (get_json(url, "/get_server_info", args.api_key) or {}).get("scheduler")
    health = health_status(url, args.api_key)

    report = check(workload, reference, outcomes, args.tolerance)
    counters = None
    if before_stats and after_stats:
        counters = {k: after_stats[k] - before_stats[k]
                    for k in ("forward_passes", "forward_tokens", "forward_sequences", "finished_requests")}
    memory = [("server (launch_server)", server_pid, before_rss[0], after_rss[0]),
              ("scheduler child", sched_pid, before_rss[1], after_rss[1])]
    print()
    print_report(report, wall, memory, counters, args.markdown)
    print()
    bad_invalid = report.invalid_non_4xx()
    ok = report.ok and health == 200
    print(f"lost {report.lost}, mismatches {report.mismatches} (invalid bodies not answered 4xx: {bad_invalid}), "
          f"valid requests without a reference answer {report.no_reference}, GET /health after: {health} -> "
          f"{'PASS' if ok else 'FAIL'}")
    if server is not None and server.proc.poll() is not None:
        print(f"the server exited ({server.proc.returncode}) during the run; log tail:\n{server.log_tail()}")
    return ok


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.url is not None:
        port = urllib.parse.urlsplit(args.url).port or 80
        return 0 if run(args, args.url, listening_pid(port)) else 1
    from make_tiny_model import delimiter_id, make_tiny_model
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep the report to the tables
    with tempfile.TemporaryDirectory(prefix="multiscore-stress-") as tmp:
        tmp = pathlib.Path(tmp)
        path = make_tiny_model(tmp / "tiny", arch="qwen3", head="seqcls", num_labels=1)
        server = LocalServer(path, delimiter_id(path), tmp / "server.log", args.num_threads, args.api_key,
                             tuple(args.server_flag))
        try:
            server.wait_ready(args.api_key)
            ok = run(args, server.url, server.proc.pid, server)
        finally:
            code = server.stop()
        if code != 0:
            print(f"launch_server exited with {code} after SIGTERM; log tail:\n{server.log_tail()}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
