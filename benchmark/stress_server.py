"""The stress test's server side: a local launch_server process, its pids and resident memory
(/proc), and small GET helpers (see stress.py)."""

from __future__ import annotations

import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE.parent / "scripts") not in sys.path:
    sys.path.insert(0, str(HERE.parent / "scripts"))
from server_process import ServerProcess, children  # noqa: E402


def auth_headers(api_key: str | None) -> dict:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


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


def scheduler_pid(server_pid: int | None) -> int | None:
    """The server's scheduler child (``python -c 'from multiscore.scheduler.scheduler import main ...'``).
    Both words rather than one module path: before the redesign it was ``multiscore.managers.scheduler``."""
    if server_pid is None:
        return None
    for pid in children(server_pid):
        cmdline = _cmdline(pid)
        if "multiscore" in cmdline and "scheduler" in cmdline:
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


class LocalServer(ServerProcess):
    """launch_server on CPU with MIS on, ``num_threads`` torch threads, ``api_key`` if given and
    ``extra`` flags; the log goes to ``log_path``."""

    def __init__(self, model_path, delimiter: int, log_path: pathlib.Path, num_threads: int = 1,
                 api_key: str | None = None, extra: tuple = ()) -> None:
        args = ["--model-path", model_path, "--device", "cpu", "--log-level", "warning",
                "--multi-item-scoring-delimiter", delimiter, "--num-threads", num_threads, *extra]
        super().__init__(args + (["--api-key", api_key] if api_key else []), log_path=log_path)
        self.log_path = log_path

    def log_tail(self, n: int = 3000) -> str:
        return self.output()[-n:]

    def wait_ready(self, api_key: str | None = None, timeout_s: float = 180.0) -> None:
        super().wait_ready(timeout_s, headers=auth_headers(api_key))


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

