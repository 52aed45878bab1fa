"""The batch files: OpenAI / vLLM batch input lines, and an output file that a run killed at any
moment (even ``kill -9``) leaves readable: each finished line is appended with one write and
flushed, and ``--resume`` cuts a torn last line before skipping the custom_ids already answered."""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Optional

# The routes a batch line may call (OpenAI's batch format; vLLM's run_batch routes, SGLang's /encode
# and TEI's /embed and /predict, whose answers are lists).
BATCH_URLS = ("/v1/score", "/score", "/rerank", "/v1/rerank", "/v2/rerank", "/classify", "/v1/classify",
              "/v1/embeddings", "/pooling", "/encode", "/embed", "/predict")


@dataclass
class BatchLine:
    number: int  # 1-based line of the input file
    custom_id: Optional[str]
    url: Optional[str] = None
    body: Optional[dict] = None
    problem: Optional[str] = None  # why the line cannot be sent (it becomes an error line)


def parse_line(number: int, text: str) -> BatchLine:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return BatchLine(number, None, problem=f"line {number} is not valid JSON: {e}")
    if not isinstance(obj, dict):
        return BatchLine(number, None, problem=f"line {number} is not a JSON object")
    custom_id = obj.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return BatchLine(number, None, problem=f"line {number} has no custom_id (a non-empty string)")
    url, method, body = obj.get("url"), obj.get("method", "POST"), obj.get("body")
    if method != "POST":
        return BatchLine(number, custom_id, problem=f"method must be POST, got {method!r}")
    if url not in BATCH_URLS:
        return BatchLine(number, custom_id, problem=f"url must be one of {', '.join(BATCH_URLS)}; got {url!r}")
    if not isinstance(body, dict):
        return BatchLine(number, custom_id, problem="body must be a JSON object")
    return BatchLine(number, custom_id, url, body)


def iter_lines(path: str):
    """The input's lines, parsed one at a time (a file of millions is never held whole)."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    try:
        for number, text in enumerate(stream, 1):
            if text.strip():
                yield parse_line(number, text)
    finally:
        if stream is not sys.stdin:
            stream.close()


def count_lines(path: str) -> Optional[int]:
    """Non-empty input lines (None for stdin, which can be read once only)."""
    if path == "-":
        return None
    with open(path, "rb") as f:
        return sum(1 for raw in f if raw.strip())


def output_line(custom_id: Optional[str], status: Optional[int], body, error: Optional[dict]) -> dict:
    """OpenAI's batch output line: ``response`` is what the route answered (None when the line was
    never sent); ``error`` says why a line did not succeed."""
    response = None
    if status is not None:
        response = {"status_code": status, "request_id": f"batch-{uuid.uuid4().hex}", "body": body}
    return {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": response, "error": error}


def line_key(custom_id: Optional[str], error: Optional[dict]) -> str:
    """What identifies an answered line on --resume: its custom_id, or (a line without one) its
    error message, which names the input line."""
    return custom_id if custom_id is not None else (error or {}).get("message", "")


def finished_ids(path: str) -> set[str]:
    """line_keys already in an output file; a torn last line (cut by a kill mid-write) is removed."""
    if not os.path.exists(path):
        return set()
    with open(path, "rb") as f:
        data = f.read()
    end = data.rfind(b"\n") + 1  # everything after the last newline is a torn line
    done, good = set(), 0
    for raw in data[:end].split(b"\n")[:-1]:
        try:
            line = json.loads(raw)
            done.add(line_key(line["custom_id"], line["error"]))
            good += len(raw) + 1
        except (ValueError, KeyError, TypeError):
            break  # a line cut and then followed by more writes: keep what precedes it
    if good < len(data):
        with open(path, "r+b") as f:
            f.truncate(good)
    return done


class OutputFile:
    def __init__(self, path: str, append: bool) -> None:
        self.stream = sys.stdout.buffer if path == "-" else open(path, "ab" if append else "wb")

    def write(self, line: dict) -> None:
        self.stream.write((json.dumps(line, ensure_ascii=False) + "\n").encode())  # one write per line
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not sys.stdout.buffer:
            self.stream.close()
