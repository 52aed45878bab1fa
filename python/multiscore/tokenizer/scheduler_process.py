"""The main process's handle on the scheduler process: start it, wait until its model is loaded,
watch it, stop it. (The scheduler's own loop is ``multiscore.scheduler.scheduler``.)"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

import zmq

from multiscore.messages import IpcPaths, SchedulerInitFailed, SchedulerReady
from multiscore.server_args import ServerArgs


class SchedulerProcess:
    """Handle on the scheduler process, owned by the main process.

    Started as a fresh ``python -c`` interpreter (not multiprocessing's spawn, which
    re-imports the caller's ``__main__`` and breaks scripts without a main guard).
    The constructor only starts it; ``wait_ready()`` waits for its model. In between the caller can
    do its own start-up work (imports, the model config, the tokenizer) while the new interpreter
    imports torch and loads the model on another core.
    """

    def __init__(self, server_args: ServerArgs) -> None:
        self.ipc = IpcPaths(tempfile.mkdtemp(prefix="multiscore-"))
        self.context = zmq.Context()
        self.process: Optional[subprocess.Popen] = None
        self.ready: Optional[SchedulerReady] = None
        self._deadline = time.monotonic() + server_args.startup_timeout_s
        self._timeout_s = server_args.startup_timeout_s
        self._init_socket = self.context.socket(zmq.PULL)
        self._init_socket.bind(self.ipc.init)
        try:
            # The model process never needs the API key; keep it off its command line (visible in ps).
            public_args = dataclasses.asdict(server_args.replace(api_key=None))
            payload = json.dumps({"server_args": public_args, "ipc_dir": self.ipc.directory,
                                  "parent_pid": os.getpid()})
            entry = "from multiscore.scheduler.scheduler import main; main()"
            self.process = subprocess.Popen([sys.executable, "-c", entry, payload])
        except BaseException:
            self.shutdown()
            raise

    def wait_ready(self) -> SchedulerReady:
        """Blocks until the model is loaded (what the process reported); RuntimeError with the
        reason if it failed, died or timed out (the process is then stopped)."""
        if self.ready is None:
            try:
                self.ready = self._wait_ready()
            except BaseException:
                self.shutdown()
                raise
            finally:
                self._init_socket.close(linger=0)
        return self.ready

    def _wait_ready(self) -> SchedulerReady:
        while time.monotonic() < self._deadline:
            if self._init_socket.poll(200):
                msg = self._init_socket.recv_pyobj()
                if isinstance(msg, SchedulerInitFailed):
                    raise RuntimeError(f"scheduler failed to start: {msg.reason}")
                return msg
            if not self.is_alive():
                raise RuntimeError(f"scheduler process exited during start-up (exit code {self.process.returncode})")
        raise RuntimeError(f"scheduler did not become ready within {self._timeout_s:.0f} s")

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process else None

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def shutdown(self) -> None:
        if self.is_alive():
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.context.destroy(linger=0)
        shutil.rmtree(self.ipc.directory, ignore_errors=True)


