"""Helpers for e2e tests: the server process (scripts/server_process.py), liveness via /proc,
multiscore temp dirs."""

from __future__ import annotations

import os
import pathlib
import tempfile
import time

# free_port and descendants are imported from here by the e2e tests.
from server_process import ServerProcess, descendants, free_port  # noqa: F401


def _is_zombie(pid: int) -> bool:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def alive(pid: int) -> bool:
    return pathlib.Path(f"/proc/{pid}").exists() and not _is_zombie(pid)


def wait_gone(pids, timeout: float = 15.0) -> set[int]:
    """Wait until none of ``pids`` is alive; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if alive(p)}
    return left


def multiscore_tmp_dirs(directory: str | None = None) -> set[str]:
    """Names of ``multiscore-*`` entries in ``directory`` (default: the system temp dir, where the
    ipc sockets live). Tests give servers a private TMPDIR, so other processes' dirs don't count."""
    tmp = directory or tempfile.gettempdir()
    return {name for name in os.listdir(tmp) if name.startswith("multiscore")}


class Server(ServerProcess):
    """The e2e tests' server: CPU, a ``--model-path`` unless ``model_path`` is None (the default
    model), ``extra`` launch_server flags; a hang on SIGTERM fails the test."""

    def __init__(self, model_path, *extra: str, env: dict | None = None):
        model = ["--model-path", str(model_path)] if model_path is not None else []
        super().__init__([*model, "--device", "cpu", *extra], env=env)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait; SIGKILL the tree and raise AssertionError if it hangs. Returns the exit code."""
        code = super().stop(timeout)
        if self.hung:
            raise AssertionError(f"launch_server did not exit within {timeout:g}s of SIGTERM")
        return code

    def score(self, **body):
        import requests

        return requests.post(self.url + "/v1/score", json=body, timeout=60)
