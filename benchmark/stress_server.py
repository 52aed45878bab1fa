"""The stress test's server side: a local launch_server process, its pids and resident memory
(/proc), and small GET helpers (see stress.py)."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"  # loopback only


def auth_headers(api_key: str | None) -> dict:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_kib(pid: int | None) -> int | None:
    """VmRSS of ``pid`` in KiB (/proc), None if unknown or gone."""
    if pid is None:
        return None
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _cmdline(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def scheduler_pid(server_pid: int | None) -> int | None:
    """The server's scheduler child (``python -c 'from multiscore.managers.scheduler import main ...'``)."""
    if server_pid is None:
        return None
    kids = _children(server_pid)
    for pid in kids:
        if "multiscore.managers.scheduler" in _cmdline(pid):
            return pid
    return None


def listening_pid(port: int) -> int | None:
    """The local process listening on TCP ``port`` (via /proc/net/tcp* socket inodes), if visible."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                    return int(entry)
            except OSError:
                continue
    return None


class LocalServer:
    """``python -m multiscore.launch_server`` on a free loopback port; the log goes to a file."""

    def __init__(self, model_path, delimiter: int, log_path: pathlib.Path, num_threads: int = 1,
                 api_key: str | None = None, extra: tuple = ()) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        cmd = [sys.executable, "-m", "multiscore.launch_server", "--model-path", str(model_path), "--host", HOST,
               "--port", str(self.port), "--device", "cpu", "--log-level", "warning",
               "--multi-item-scoring-delimiter", str(delimiter), "--num-threads", str(num_threads), *extra]
        if api_key:
            cmd += ["--api-key", api_key]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def wait_ready(self, api_key: str | None = None, timeout_s: float = 180.0) -> None:
        import requests

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/health", headers=auth_headers(api_key), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()  # launch_server stops its scheduler on SIGTERM and exits 0
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def get_json(url: str, path: str, api_key: str | None = None, timeout_s: float = 10.0) -> dict | None:
    import requests

    try:
        resp = requests.get(url + path, headers=auth_headers(api_key), timeout=timeout_s)
        return resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


def health_status(url: str, api_key: str | None = None) -> int | None:
    import requests

    try:
        return requests.get(url + "/health", headers=auth_headers(api_key), timeout=10).status_code
    except requests.RequestException:
        return None

