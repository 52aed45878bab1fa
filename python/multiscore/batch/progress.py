"""Batch progress on stderr: a bar redrawn in place on a terminal, a plain line every few seconds
otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Optional

_PLAIN_EVERY_S = 5.0
_TTY_EVERY_S = 0.1


class Progress:
    def __init__(self, total: Optional[int], already: int = 0) -> None:
        """``total``: the input's lines (None: unknown, stdin)."""
        self.total, self.done, self.items = total, already, 0
        self.start = time.monotonic()
        self.last_print = 0.0
        self.already = already
        self.tty = sys.stderr.isatty()

    def advance(self, items: int) -> None:
        self.done += 1
        self.items += items
        now = time.monotonic()
        every = _TTY_EVERY_S if self.tty else _PLAIN_EVERY_S
        if now - self.last_print >= every or self.done == self.total:
            self.last_print = now
            self._print(now)

    def _print(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = (self.done - self.already) / elapsed
        speed = f"{rate:.1f} lines/s, {self.items / elapsed:.0f} items/s"
        if self.total is None:
            text = f"{self.done} lines, {speed}"
        else:
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            text = f"{self.done}/{self.total} lines ({100 * self.done / max(self.total, 1):.0f}%), {speed}, ETA {eta:.0f} s"
        if self.tty and self.total is not None:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}  ")
            if self.done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"run_batch: {text}\n")
        sys.stderr.flush()
