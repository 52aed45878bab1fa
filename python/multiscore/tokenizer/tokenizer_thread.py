"""Tokenizing large requests off the event loop.

The event loop that reads, routes and answers every request also tokenizes them. A request with
many texts held it for the whole tokenization: 10,000 short items ~90 ms, 30,000 ~270 ms,
during which no other request was read or answered (benchmark/README.md, "Fair scheduling").
Such requests are tokenized here instead: on one thread of its own, with its own copy of the
tokenizer, loaded there on first use. Hugging Face's Rust tokenizers release the GIL while they
encode, so the loop keeps serving meanwhile. The copy is never shared: a tokenizer whose
truncation state another call changes while it encodes fails with "Already borrowed".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Callable, TypeVar


T = TypeVar("T")

# Requests with at least this many texts go to the thread; below it the hop (~0.1 ms) is not worth it.
MANY_TEXTS = 256


def many_texts(values) -> bool:
    return isinstance(values, list) and len(values) >= MANY_TEXTS and all(isinstance(v, str) for v in values)


class TokenizerThread:
    def __init__(self, load_tokenizer: Callable[[], object]) -> None:
        """``load_tokenizer``: makes the thread's own tokenizer, the same as the manager's."""
        self._load = load_tokenizer
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._tokenizer = None  # touched on the thread only

    async def run(self, work: Callable[[object], T]) -> T:
        """``work(tokenizer)`` on the thread, with the thread's tokenizer."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="multiscore-tokenize")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work)

    def _call(self, work):
        if self._tokenizer is None:
            self._tokenizer = self._load()
        return work(self._tokenizer)

    @property
    def used(self) -> bool:
        return self._tokenizer is not None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
