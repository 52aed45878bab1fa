"""Fuzz every operation of the server's own ``/openapi.json`` with schemathesis.

One real ``launch_server`` (tiny Qwen3 classifier, one label, MIS on, one torch thread) is shared
by the module. For each GET/POST/PUT operation, schemathesis generates schema-valid (positive) and,
for operations with a body, schema-violating (negative) requests; every answer must be:

- not a server error (schemathesis' ``not_a_server_error``): no 5xx;
- a 4xx only as HTTP 400 with the error envelope ``{"object": "error", "message", "type":
  "BadRequestError", "code": 400}`` (never a 422, never FastAPI's ``{"detail": ...}``), or vLLM's
  404 ``NotFoundError`` for a ``model`` the server does not serve;
- an answer at all within ``REQUEST_TIMEOUT_S``: a hang fails the test (and the remaining
  examples are not sent, so a hung server costs one timeout, not one per example).

Generation is bounded (``MAX_EXAMPLES`` per operation and mode, at most ``SEND_BUDGET`` requests
with shrinking) and seeded per operation, so a run is reproducible; failures are shrunk to a minimal
request and reported with a curl command. Hypothesis keeps its files in a temporary directory.
Reproducers of what this fuzzing found live in ``test_fuzz_regressions.py``.

schemathesis is a test dependency: if it is missing, this module fails (it is not skipped).
"""

from __future__ import annotations

import copy
import json
import time
import zlib

import hypothesis.configuration
import pytest
import requests
import schemathesis  # a hard import on purpose: a missing schemathesis is a failure, not a skip
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error


MAX_EXAMPLES = 30
REQUEST_TIMEOUT_S = 30
SEND_BUDGET = 3 * MAX_EXAMPLES  # requests per operation and mode, shrinking included
MIN_EXAMPLES = 5  # per body operation and mode: fewer means the schema could not be used

# The routes of README.md: the schema must list at least these (it may list more; all are fuzzed).
README_OPERATIONS = [
    "GET /health",
    "GET /v1/models",
    "GET /get_model_info",
    "GET /get_server_info",
    "GET /model_info",
    "GET /server_info",
    "GET /ping",
    "GET /health_generate",
    "GET /version",
    "POST /encode",
    "PUT /encode",
    "PUT /classify",
    "POST /tokenize",
    "POST /decode",
    "POST /embed_all",
    "POST /v1/score",
    "POST /score",
    "POST /v1/embeddings",
    "POST /pooling",
    "POST /v1/generative-scores",
    "POST /classify",
    "POST /v1/classify",
    "POST /rerank",
    "POST /v1/rerank",
    "POST /v2/rerank",
]


@pytest.fixture(scope="module", autouse=True)
def hypothesis_home(tmp_path_factory):
    """Hypothesis caches (constants, unicode data) go to a temp dir, not ``.hypothesis/`` in the tree."""
    hypothesis.configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    hypothesis.configuration.set_hypothesis_home_dir(None)


@pytest.fixture(scope="module")
def server(reranker_mis_server):
    return reranker_mis_server  # shared with the other fuzz module (test/e2e/conftest.py)


@pytest.fixture(scope="module")
def raw_schema(server) -> dict:
    resp = requests.get(server.url + "/openapi.json", timeout=REQUEST_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    return resp.json()


def hoist_local_defs(document: dict) -> dict:
    """A copy of ``document`` whose nested JSON-Schema ``$defs`` live in ``components/schemas``.

    The server embeds whole pydantic schemas (with their own ``$defs``) in the ``/v1/score`` body,
    so ``#/$defs/...`` references do not resolve against the OpenAPI document (a defect reported
    by ``test_fuzz_regressions.py::test_openapi_references_resolve``). Without this, schemathesis
    cannot generate vLLM-style ``/v1/score`` bodies at all; with it, the route is fuzzed anyway.
    """
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {}).setdefault("schemas", {})

    def walk(node):
        if isinstance(node, dict):
            for name, sub in (node.pop("$defs", None) or {}).items():
                walk(sub)
                if name in components and components[name] != sub:
                    raise AssertionError(f"$defs/{name} differs from components/schemas/{name}")
                components[name] = sub
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node["$ref"] = "#/components/schemas/" + ref[len("#/$defs/"):]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return doc


@pytest.fixture(scope="module")
def schema(raw_schema):
    # An explicit config (no schemathesis.toml discovery); no sanitization, so reproducers show the
    # real values of fields like ``truncate_prompt_tokens`` (schemathesis masks "token" keys).
    config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
    return schemathesis.openapi.from_dict(hoist_local_defs(raw_schema), config=config)


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:
        yield s


def error_envelope(ctx, response, case) -> None:
    """A 4xx answer is HTTP 400 with the JSON error envelope (README: every bad input)."""
    status = response.status_code
    if not 400 <= status < 500:
        return
    assert status in (400, 404), f"bad input answered {status}, not 400: {response.text[:500]}"
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} body is not JSON: {response.content[:500]!r}") from None
    assert isinstance(body, dict), f"{status} body is not a JSON object: {body!r:.500}"
    assert body.get("object") == "error", f"{status} body without object=error: {body!r:.500}"
    if status == 404:  # vLLM's answer to a model the server does not serve (/tokenize, /detokenize)
        assert body.get("type") == "NotFoundError" and body.get("param") == "model", f"404 not for the model: {body!r:.500}"
        return
    assert body.get("type") == "BadRequestError", f"400 body without type=BadRequestError: {body!r:.500}"
    assert body.get("code") == 400, f"400 body without code=400: {body!r:.500}"
    message = body.get("message")
    assert isinstance(message, str) and message.strip(), f"400 body without a message: {body!r:.500}"


def reproducer(case, base_url: str) -> str:
    """The request as ``METHOD /path body=...`` and as a curl command."""
    body = case.body
    if body is None or type(body).__name__ == "NotSet":
        shown = "(none)"
    elif isinstance(body, (bytes, bytearray)):
        shown = f"raw bytes {bytes(body)[:2000]!r}"
    else:
        try:
            shown = json.dumps(body)[:2000]
        except (TypeError, ValueError):
            shown = repr(body)[:2000]
    try:
        curl = case.as_curl_command(base_url=base_url)[:3000]
    except Exception as e:  # noqa: BLE001 - a reproducer must never hide the failure it reports
        curl = f"(no curl command: {e!r})"
    return f"{case.method.upper()} {case.path} media_type={case.media_type} body={shown}\n{curl}"


class ServerErrorAnswer(AssertionError):
    """A 5xx answer."""


class MalformedErrorAnswer(AssertionError):
    """A 4xx answer that is not a 400 with the error envelope."""


def request_key(case) -> str:
    return repr((case.method, case.path, case.media_type, case.headers, case.query, case.body))


def fuzz(operation, mode: GenerationMode, server, session) -> tuple[int, list[str], bool]:
    """Run ``operation`` under ``mode``; return (requests sent, failure reports, whether it stalled)."""
    sent = 0
    stalled: list[str] = []  # a hang or a dead server: stop sending, report once
    failed: dict[str, tuple[type, str]] = {}  # request -> failure, so a spent budget keeps failures failing

    # A fixed seed per operation and mode: runs are reproducible, and operations that share a body
    # schema (/classify and /v1/classify, ...) still get different examples.
    @seed(zlib.crc32(f"{operation.label} {mode.value}".encode()))
    @settings(
        max_examples=MAX_EXAMPLES,
        database=None,  # nothing written to .hypothesis/ in the repository
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        report_multiple_bugs=True,
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        nonlocal sent
        key = request_key(case)
        if key not in failed:
            if stalled or sent >= SEND_BUDGET:
                return  # server stalled, or budget spent (shrinking stops at the smallest failure so far)
            sent += 1
            try:
                response = case.call(base_url=server.url, session=session, timeout=REQUEST_TIMEOUT_S)
            except requests.Timeout:
                stalled.append(f"no answer within {REQUEST_TIMEOUT_S}s (hang):\n{reproducer(case, server.url)}")
                return
            except requests.ConnectionError as e:
                exit_code = server.proc.poll()
                stalled.append(f"connection failed ({e}); server exit code {exit_code}:\n{reproducer(case, server.url)}")
                return
            try:
                case.validate_response(response, checks=[not_a_server_error, error_envelope])
            except BaseException as e:  # schemathesis raises a FailureGroup: an exception group
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                kind = ServerErrorAnswer if response.status_code >= 500 else MalformedErrorAnswer
                report = f"[{response.status_code}] {response.text[:1000]}\n{reproducer(case, server.url)}\n{e}"
                failed[key] = (kind, report)
        if key in failed:
            # One raise site per kind: hypothesis tells bugs apart by exception type and location.
            kind, report = failed[key]
            raise kind(report)

    failures = []
    try:
        run()
    except BaseException as e:  # AssertionError, or an ExceptionGroup of several distinct bugs
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        inner = getattr(e, "exceptions", None) or [e]
        failures += [f"{operation.label} ({mode.value}): {x}" for x in inner]
    failures += [f"{operation.label} ({mode.value}): {s}" for s in stalled]
    return sent, failures, bool(stalled)


def test_schema_lists_the_readme_routes(schema):
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert set(README_OPERATIONS) <= labels, f"routes missing from /openapi.json: {set(README_OPERATIONS) - labels}"


def test_fuzz_every_operation(schema, server, session):
    """Every GET/POST/PUT operation the schema lists (routes added later are fuzzed too)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.method.upper() in ("GET", "POST", "PUT")]
    failures, counts, minimum = [], {}, {}
    for operation in operations:
        has_body = bool(operation.body)
        for mode in [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_body else []):
            t0 = time.perf_counter()
            sent, found, stalled = fuzz(operation, mode, server, session)
            seconds = time.perf_counter() - t0
            print(f"{operation.label} ({mode.value}): {sent} requests in {seconds:.2f}s, {len(found)} failure(s)")
            counts[f"{operation.label} ({mode.value})"] = sent
            # An operation without a body (a GET, POST /flush_cache) has one request to send.
            minimum[f"{operation.label} ({mode.value})"] = MIN_EXAMPLES if has_body else 1
            failures += found
            if server.proc.poll() is not None:
                failures.append(f"server exited with {server.proc.returncode}:\n{server.output()[-4000:]}")
            if stalled or server.proc.poll() is not None:
                # Stop here: a hung or dead server would cost a timeout per remaining operation.
                pytest.fail(f"{len(failures)} failure(s), fuzzing stopped:\n\n" + "\n\n".join(failures))
    # Guard against fuzzing that silently generates nothing (e.g. an unusable schema).
    starved = {k: n for k, n in counts.items() if n < minimum[k]}
    if starved:
        failures.append(f"too few examples generated (is the schema usable?): {starved}")
    assert not failures, f"{len(failures)} failure(s):\n\n" + "\n\n".join(failures)


def test_server_still_healthy_after_fuzzing(server):
    resp = requests.get(server.url + "/health", timeout=REQUEST_TIMEOUT_S)
    assert resp.status_code == 200, resp.text
    body = {"query": "the dog", "items": ["the cat", "a bird"]}
    ok = requests.post(server.url + "/v1/score", json=body, timeout=REQUEST_TIMEOUT_S)
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["scores"]) == 2
