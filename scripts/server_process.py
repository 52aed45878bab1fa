"""A real ``python -m multiscore.launch_server`` child process, for the demo, the e2e tests and the
benchmarks: a free loopback port, the server's output in a log file, ready once ``GET /health``
answers 200, stopped with SIGTERM.

Standard library only, so that ``scripts/demo.py`` runs on a bare install (no ``requests``).
"""

from __future__ import annotations

import http.client
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HOST = "127.0.0.1"  # loopback only
# No proxy: a loopback server must not be reached through an http_proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _parent_pid(pid: int) -> int | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    """The direct child pids of ``pid`` (Linux /proc)."""
    return _children_by_parent().get(pid, [])


def descendants(pid: int) -> set[int]:
    """All live descendant pids of ``pid`` (Linux /proc)."""
    by_parent = _children_by_parent()
    out: set[int] = set()
    stack = [pid]
    while stack:
        for child in by_parent.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def _children_by_parent() -> dict[int, list[int]]:
    by_parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_pid(int(entry))
            if parent is not None:
                by_parent.setdefault(parent, []).append(int(entry))
    return by_parent


class ServerProcess:
    """``python -m multiscore.launch_server --host HOST --port <free> *args`` with its stdout and
    stderr in ``log_path`` (default: an anonymous temp file). ``env`` adds to this process's."""

    def __init__(self, args=(), *, log_path=None, env: dict | None = None, host: str = HOST,
                 entry=("multiscore.launch_server",)) -> None:
        """``entry``: what follows ``python -m``; ``("multiscore", "serve", MODEL)`` is vLLM's form."""
        self.host = host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.cmd = [sys.executable, "-m", *map(str, entry), "--host", host, "--port", str(self.port), *map(str, args)]
        # A file, not a pipe: nobody reads the log while the server runs, and a full pipe blocks it.
        self._log = open(log_path, "w+b") if log_path is not None else tempfile.TemporaryFile()
        self._final_output: str | None = None  # the log's text once stop() has closed it
        self.hung = False  # stop() had to SIGKILL the server: SIGTERM did not end it in time
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=None if env is None else {**os.environ, **env})

    def output(self) -> str:
        """Everything the server has written so far."""
        if self._final_output is not None:
            return self._final_output
        # pread leaves the file offset alone: the server shares it and writes at it.
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def healthy(self, headers: dict | None = None) -> bool:
        request = urllib.request.Request(self.url + "/health", headers=headers or {})
        try:
            with _NO_PROXY.open(request, timeout=2) as resp:
                return resp.status == 200
        except (OSError, http.client.HTTPException):  # refused until it listens; 503 while loading
            return False

    def wait_ready(self, timeout_s: float = 120.0, headers: dict | None = None) -> None:
        """Return once ``GET /health`` answers 200. Raises RuntimeError if the server exits first,
        TimeoutError (after stopping it) if it is not ready in ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"launch_server exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            if self.healthy(headers):
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"launch_server not healthy within {timeout_s:g} s:\n{self.output()[-4000:]}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (launch_server then stops its scheduler and exits 0) and wait; if it is still
        running after ``timeout_s``, SIGKILL it and its children. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.hung = True
                self._kill_tree()
        if self._final_output is None:
            self._final_output = self.output()
            self._log.close()
        return self.proc.returncode

    def _kill_tree(self) -> None:
        for pid in descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.kill()
        self.proc.wait(10)
