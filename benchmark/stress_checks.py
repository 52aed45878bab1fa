"""The stress test's checks and its report (see stress.py): each answer of the concurrent phase
against the reference answer of the same body sent alone, invalid bodies against the error
envelope, and the tables printed from the result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from http_load import percentile
from stress_workload import KINDS, SCORE_PATH, Request


@dataclass
class Outcome:
    """One request's answer, as stress.py's runner records it."""

    status: int | None = None  # None: no HTTP response (lost)
    body: bytes = b""
    latency_s: float = 0.0
    error: str | None = None  # why it was lost


# ---- checks -----------------------------------------------------------------------------------

def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def compare_answer(req: Request, ref: dict, got: dict, tol: float = 1e-5) -> str | None:
    """None if ``got`` equals the reference answer ``ref`` (scores within ``tol``), else why not."""
    if ref.get("usage") != got.get("usage"):
        return f"usage {got.get('usage')} != {ref.get('usage')}"
    if req.path == SCORE_PATH:
        a, b = ref.get("scores"), got.get("scores")
        if not isinstance(b, list) or len(a) != len(b):
            return f"scores shape: {b!r:.200} vs {a!r:.200}"
        for i, (ra, rb) in enumerate(zip(a, b)):
            if len(ra) != len(rb) or not all(_close(x, y, tol) for x, y in zip(ra, rb)):
                return f"item {i}: {rb} != {ra}"
        if ref.get("object") != got.get("object") or ref.get("model") != got.get("model"):
            return "object/model fields differ"
        return None
    a, b = ref.get("results"), got.get("results")
    if not isinstance(b, list) or len(a) != len(b):
        return f"{len(b) if isinstance(b, list) else b!r} results, expected {len(a)}"
    ref_score = {r["index"]: r["relevance_score"] for r in a}
    ref_doc = {r["index"]: r.get("document") for r in a}
    for pos, (ra, rb) in enumerate(zip(a, b)):
        # Both lists are sorted by score: position by position the scores agree, and a different
        # index at a position is allowed only between scores that tie within the tolerance.
        if not _close(ra["relevance_score"], rb["relevance_score"], tol):
            return f"position {pos}: score {rb['relevance_score']} != {ra['relevance_score']}"
        j = rb["index"]
        if j in ref_score:
            if not _close(ref_score[j], rb["relevance_score"], tol):
                return f"document {j}: score {rb['relevance_score']} != {ref_score[j]}"
            if ref_doc[j] != rb.get("document"):
                return f"document {j}: text {rb.get('document')!r} != {ref_doc[j]!r}"
        # else: a document the reference cut at top_n, possible only at a tie on the boundary
        # (the position's score check above holds it to the tolerance)
    if ref.get("meta") != got.get("meta"):
        return f"meta {got.get('meta')} != {ref.get('meta')}"
    return None


def envelope_problem(status: int, body: bytes) -> str | None:
    """None if ``body`` is the error envelope for ``status``."""
    try:
        doc = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:120]!r}"
    if not isinstance(doc, dict):
        return f"not a JSON object: {body[:120]!r}"
    if doc.get("object") != "error" or not isinstance(doc.get("message"), str) or not doc.get("message"):
        return f"not the error envelope: {body[:200]!r}"
    if not isinstance(doc.get("type"), str) or doc.get("code") != status:
        return f"envelope type/code wrong for HTTP {status}: {body[:200]!r}"
    return None


@dataclass
class KindStats:
    sent: int = 0
    status: dict = field(default_factory=dict)  # "200" / "4xx" / "5xx" / "other" -> count
    lost: int = 0
    mismatches: int = 0  # valid: not the reference answer; invalid: not a 4xx with the envelope
    latencies_ms: list = field(default_factory=list)


@dataclass
class Report:
    by_kind: dict  # kind -> KindStats
    problems: list  # (index, kind, what, message), every failure
    no_reference: int = 0  # valid requests whose sequential answer was missing or not a 200
    items_ok: int = 0  # items / documents scored in answered valid requests

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.by_kind.values())

    @property
    def mismatches(self) -> int:
        return sum(s.mismatches for s in self.by_kind.values())

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.mismatches == 0 and self.no_reference == 0

    def invalid_non_4xx(self) -> int:
        s = self.by_kind["invalid"].status
        return sum(v for k, v in s.items() if k != "4xx")


def _status_class(status: int) -> str:
    return "200" if status == 200 else "4xx" if 400 <= status < 500 else "5xx" if status >= 500 else "other"


def _item_count(req: Request) -> int:
    doc = json.loads(req.body)
    items = doc["items"] if req.path == SCORE_PATH else doc["documents"]
    return 1 if isinstance(items, str) else len(items)


def check(workload: list[Request], reference: dict[tuple, Outcome], outcomes: list[Outcome | None],
          tol: float = 1e-5) -> Report:
    report = Report({k: KindStats() for k in KINDS}, [])
    ref_docs: dict[tuple, dict | None] = {}
    for key, out in reference.items():
        ref_docs[key] = json.loads(out.body) if out.status == 200 else None
    for i, (req, out) in enumerate(zip(workload, outcomes)):
        st = report.by_kind[req.kind]
        st.sent += 1
        if out is None or out.status is None:
            st.lost += 1
            why = "no answer by the deadline" if out is None else out.error
            report.problems.append((i, req.kind, req.what, f"lost: {why}"))
            continue
        cls = _status_class(out.status)
        st.status[cls] = st.status.get(cls, 0) + 1
        st.latencies_ms.append(out.latency_s * 1e3)
        if req.kind == "invalid":
            problem = None if cls == "4xx" else f"HTTP {out.status} for an invalid body: {out.body[:200]!r}"
            problem = problem or envelope_problem(out.status, out.body)
        elif ref_docs.get(req.key) is None:
            report.no_reference += 1
            ref = reference.get(req.key)
            report.problems.append((i, req.kind, req.what, "no reference answer: " + (
                "not sent before the deadline" if ref is None else
                f"lost ({ref.error})" if ref.status is None else f"HTTP {ref.status}: {ref.body[:200]!r}")))
            continue
        elif out.status != 200:
            problem = f"HTTP {out.status}: {out.body[:200]!r}"
        else:
            try:
                problem = compare_answer(req, ref_docs[req.key], json.loads(out.body), tol)
            except (ValueError, KeyError, TypeError) as e:
                problem = f"unreadable answer ({e!r}): {out.body[:200]!r}"
            if problem is None:
                report.items_ok += _item_count(req)
        if problem:
            st.mismatches += 1
            report.problems.append((i, req.kind, req.what, problem))
    return report


# ---- report -----------------------------------------------------------------------------------

def table_rows(report: Report, wall_s: float) -> tuple[list[str], list[list[str]]]:
    header = ["kind", "sent", "200", "4xx", "5xx", "other", "lost", "mismatch", "p50 ms", "p99 ms", "req/s"]
    body = []
    total = KindStats()
    for kind in KINDS:
        s = report.by_kind[kind]
        total.sent += s.sent
        total.lost += s.lost
        total.mismatches += s.mismatches
        total.latencies_ms += s.latencies_ms
        for k, v in s.status.items():
            total.status[k] = total.status.get(k, 0) + v
    for name, s in [(k, report.by_kind[k]) for k in KINDS] + [("all", total)]:
        answered = sum(s.status.values())
        body.append([
            name, str(s.sent), *(str(s.status.get(c, 0)) for c in ("200", "4xx", "5xx", "other")), str(s.lost),
            str(s.mismatches), f"{percentile(s.latencies_ms, 50):.1f}", f"{percentile(s.latencies_ms, 99):.1f}",
            f"{answered / wall_s:.1f}" if wall_s > 0 else "-",
        ])
    return header, body


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def print_report(report: Report, wall_s: float, memory: list, counters: dict | None, markdown: bool,
                 max_problems: int = 20) -> None:
    from bench_common import print_rows

    header, body = table_rows(report, wall_s)
    print_rows(header, body, markdown)
    answered = sum(sum(s.status.values()) for s in report.by_kind.values())
    print(f"concurrent phase: {answered} answers in {wall_s:.2f} s = {answered / max(wall_s, 1e-9):.1f} req/s, "
          f"{report.items_ok / max(wall_s, 1e-9):.1f} items/s (valid answers equal to the reference)")
    if counters:
        passes = max(1, counters["forward_passes"])
        print(f"scheduler during the concurrent phase: {counters['forward_passes']} forward passes, "
              f"{counters['forward_tokens'] / passes:.1f} tokens/pass, {counters['forward_sequences'] / passes:.2f} "
              f"sequences/pass, {counters['finished_requests']} requests finished")
    print()
    mem_header = ["process", "pid", "VmRSS before MiB", "VmRSS after MiB", "delta MiB"]
    mem_body = []
    for name, pid, before, after in memory:
        delta = "-" if before is None or after is None else f"{(after - before) / 1024:+.1f}"
        mem_body.append([name, "-" if pid is None else str(pid), _mib(before), _mib(after), delta])
    print_rows(mem_header, mem_body, markdown)
    if report.problems:
        print()
        print(f"{len(report.problems)} problems (first {min(max_problems, len(report.problems))}):")
        for i, kind, what, msg in report.problems[:max_problems]:
            print(f"  #{i} {kind} ({what}): {msg}")
