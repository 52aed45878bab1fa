"""The stress test's workload: a deterministic, seeded mix of valid MIS, single-item and rerank
requests and invalid bodies (see stress.py)."""

from __future__ import annotations

import json
import pathlib
import random
import sys
from dataclasses import dataclass

HERE = pathlib.Path(__file__).resolve().parent
for _p in (HERE.parent / "scripts", HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
from tiny_tokenizers import WORDS  # noqa: E402

KINDS = ("mis", "single", "rerank", "invalid")
SCORE_PATH = "/v1/score"
RERANK_PATHS = ("/rerank", "/v1/rerank", "/v2/rerank")
DELIMITER_TEXT = "<|sep|>"  # the tiny tokenizer's MIS delimiter: inside an item it must not split it


@dataclass(frozen=True)
class Request:
    kind: str  # one of KINDS
    path: str
    body: bytes
    what: str  # the route form (valid) or the defect (invalid)

    @property
    def key(self) -> tuple[str, bytes]:
        return self.path, self.body


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _text(rng: random.Random, lo: int, hi: int, delimiter_rate: float = 0.0) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    if words and rng.random() < delimiter_rate:
        words.insert(rng.randrange(len(words) + 1), DELIMITER_TEXT)
    return " ".join(words)


def _mis_body(rng: random.Random) -> dict:
    n = rng.randint(2, 30)
    items = [_text(rng, 1, 8, delimiter_rate=0.02) for _ in range(n)]
    if rng.random() < 0.1:
        items[rng.randrange(n)] = ""  # an empty item is read out at the query's last token
    body = {"query": _text(rng, 3, 12), "items": items}
    if rng.random() < 0.2:
        body["apply_softmax"] = rng.random() < 0.5
    return body


def _single_body(rng: random.Random) -> dict:
    item = _text(rng, 1, 10)
    body = {"query": _text(rng, 3, 12), "items": item if rng.random() < 0.5 else [item]}
    if rng.random() < 0.2:
        body["apply_softmax"] = False
    return body


def _rerank_body(rng: random.Random) -> tuple[str, dict]:
    n = rng.randint(2, 20)
    docs: list = [_text(rng, 1, 10) for _ in range(n)]
    if rng.random() < 0.15:
        docs[rng.randrange(n)] = docs[0]  # equal documents, equal scores: exercises the tie rule
    if rng.random() < 0.3:
        docs = [{"text": d} if rng.random() < 0.5 else d for d in docs]
    body: dict = {"query": _text(rng, 3, 12), "documents": docs}
    if rng.random() < 0.5:
        body["top_n"] = rng.randint(0, n + 2)  # 0 = all, more than n = all
    if rng.random() < 0.3:
        body["return_documents"] = rng.random() < 0.5
    return rng.choice(RERANK_PATHS), body


def _invalid(rng: random.Random, vocab_size: int, context_length: int | None) -> tuple[str, bytes, str]:
    """One bad request: (path, body bytes, what is wrong)."""
    q, item = _text(rng, 2, 6), _text(rng, 1, 4)
    rr = rng.choice(RERANK_PATHS)
    any_path = rng.choice((SCORE_PATH,) + RERANK_PATHS)
    cases = [
        (SCORE_PATH, b'{"query": "the dog", "items": ["a cat",', "truncated JSON"),
        (rr, b'{"query": "the dog" "documents": ["a"]}', "malformed JSON (missing comma)"),
        (any_path, b"\xff\xfe{\x00", "invalid UTF-8"),
        (any_path, b"", "empty body"),
        (any_path, rng.choice([b"[1, 2, 3]", b'"query"', b"null", b"42", b"true"]), "non-object JSON"),
        (SCORE_PATH, _dumps({"query": rng.randint(0, 9), "items": [item]}), "query is a number"),
        (SCORE_PATH, _dumps({"query": q, "items": {"a": item}}), "items is an object"),
        (SCORE_PATH, _dumps({"query": q, "items": [3, 4]}), "text query with token-id items"),
        (SCORE_PATH, _dumps({"query": q, "items": [[3, 4]]}), "text query with token-list items"),
        (SCORE_PATH, _dumps({"query": q, "items": [item], "apply_softmax": "yes"}), "apply_softmax is a string"),
        (SCORE_PATH, _dumps({"query": q}), "missing items"),
        (SCORE_PATH, _dumps({"items": [item]}), "missing query"),
        (SCORE_PATH, _dumps({}), "empty object"),
        (SCORE_PATH, _dumps({"query": [5, 6, vocab_size + rng.randint(0, 1000)], "items": [[7, 8]]}),
         "query token id >= vocab size"),
        (SCORE_PATH, _dumps({"query": [5, 6], "items": [[7, 8], [9, -rng.randint(1, 5)]]}), "negative item token id"),
        (SCORE_PATH, _dumps({"query": [], "items": [[]]}), "empty query and empty item"),
        (rr, _dumps({"query": q, "documents": []}), "empty documents"),
        (rr, _dumps({"query": q}), "missing documents"),
        (rr, _dumps({"documents": [item]}), "missing query"),
        (rr, _dumps({"query": rng.randint(0, 9), "documents": [item]}), "query is a number"),
        (rr, _dumps({"query": q, "documents": item}), "documents is a string"),
        (rr, _dumps({"query": q, "documents": [1, 2]}), "documents are numbers"),
        (rr, _dumps({"query": q, "documents": [{"txt": item}]}), "document object without text"),
        (rr, _dumps({"query": q, "documents": [item, q], "top_n": -rng.randint(1, 5)}), "negative top_n"),
        (rr, _dumps({"query": q, "documents": [item, q], "top_n": "2"}), "top_n is a string"),
        (rr, _dumps({"query": q, "documents": [item], "max_tokens_per_doc": -1}), "max_tokens_per_doc -1"),
        (rr, _dumps({"query": q, "documents": [item], "return_documents": "no"}), "return_documents is a string"),
    ]
    if context_length is not None and context_length <= 8192:
        long_query = " ".join(rng.choice(WORDS) for _ in range(context_length + 8))
        cases.append((SCORE_PATH, _dumps({"query": long_query, "items": [item]}), "query longer than the context"))
    return rng.choice(cases)


def make_workload(n: int, seed: int = 0, invalid_fraction: float = 0.12, vocab_size: int = 256,
                  context_length: int | None = 4096, repeat_fraction: float = 0.25) -> list[Request]:
    """``n`` requests, deterministic for a seed: ~``invalid_fraction`` invalid, the rest split between
    MIS, single-item and rerank. ``repeat_fraction`` of the valid ones repeat an earlier body of their
    kind, so identical requests also run concurrently."""
    rng = random.Random(seed)
    out: list[Request] = []
    seen: dict[str, list[Request]] = {k: [] for k in KINDS}
    for _ in range(n):
        if rng.random() < invalid_fraction:
            path, body, what = _invalid(rng, vocab_size, context_length)
            out.append(Request("invalid", path, body, what))
            continue
        kind = rng.choice(("mis", "single", "rerank"))
        if seen[kind] and rng.random() < repeat_fraction:
            out.append(rng.choice(seen[kind]))
            continue
        if kind == "mis":
            req = Request(kind, SCORE_PATH, _dumps(_mis_body(rng)), "mis")
        elif kind == "single":
            req = Request(kind, SCORE_PATH, _dumps(_single_body(rng)), "single")
        else:
            path, body = _rerank_body(rng)
            req = Request(kind, path, _dumps(body), path)
        seen[kind].append(req)
        out.append(req)
    return out
