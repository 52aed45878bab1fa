"""Helpers for e2e tests: free ports, process trees via /proc, multiscore temp dirs."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

STARTUP_DEADLINE_S = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ppid(pid: int) -> int | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _is_zombie(pid: int) -> bool:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def descendants(pid: int) -> set[int]:
    """All live descendant pids of ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _ppid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    out: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


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


def _requests():
    import requests

    return requests


class Server:
    """A real ``python -m multiscore.launch_server`` process on a free port, log in a temp file."""

    def __init__(self, model_path, *extra: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "multiscore.launch_server"]
        cmd += ["--model-path", str(model_path)] if model_path is not None else []  # None: the default model
        cmd += ["--port", str(self.port), "--device", "cpu", *extra]
        # A file, not a pipe: nobody reads the log while the server runs, and a full pipe blocks it.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, text=True, env=None if env is None else {**os.environ, **env}
        )

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def wait_ready(self, deadline_s: float = STARTUP_DEADLINE_S) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"launch_server exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            try:
                if _requests().get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except _requests().RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"launch_server not healthy within {deadline_s}s:\n{self.output()[-4000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait; SIGKILL the group if it hangs. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in descendants(self.proc.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("launch_server did not exit within 30s of SIGTERM")
        return self.proc.returncode

    def score(self, **body):
        return _requests().post(self.url + "/v1/score", json=body, timeout=60)
