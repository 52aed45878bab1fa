"""The model replicas (``--dp-size N``): N scheduler processes, each a full copy of the model.

On CPU the cores are split between them (``--num-threads`` each, default cores / N); on CUDA
replica i runs on GPU ``base_gpu_id + i``. The TokenizerManager routes requests to them and asks
for a dead replica to be restarted (with dp_size 1 a death stops the server instead, as before:
a supervisor restarts it).
"""

from __future__ import annotations

import logging
import os
from typing import Optional

from multiscore.messages import SchedulerReady
from multiscore.server_args import ServerArgs
from multiscore.tokenizer.scheduler_process import SchedulerProcess

logger = logging.getLogger(__name__)


def replica_args(server_args: ServerArgs, index: int) -> ServerArgs:
    """The server args replica ``index`` runs with: its share of the CPU cores, or its own GPU."""
    n = server_args.dp_size
    if n == 1:
        return server_args
    changes = {"base_gpu_id": server_args.base_gpu_id + index}
    if server_args.num_threads is None and server_args.resolved_device == "cpu":
        changes["num_threads"] = max(1, (os.cpu_count() or 1) // n)
    return server_args.replace(**changes)


class ReplicaSet:
    """The replicas' processes. The constructor starts them all at once (they load their models side
    by side); ``wait_ready()`` waits for every one."""

    def __init__(self, server_args: ServerArgs) -> None:
        self.server_args = server_args
        self.processes: list[SchedulerProcess] = []
        self.restarts = 0
        try:
            for i in range(server_args.dp_size):
                self.processes.append(SchedulerProcess(replica_args(server_args, i)))
        except BaseException:
            self.shutdown()
            raise

    def wait_ready(self) -> "ReplicaSet":
        try:
            for process in self.processes:
                process.wait_ready()
        except BaseException:
            self.shutdown()
            raise
        return self

    def __len__(self) -> int:
        return len(self.processes)

    @property
    def pid(self) -> Optional[int]:
        return self.processes[0].pid

    @property
    def pids(self) -> list[Optional[int]]:
        return [p.pid for p in self.processes]

    @property
    def ready(self) -> SchedulerReady:
        """What the first replica reported at start-up (all load the same model the same way)."""
        return self.processes[0].ready

    def alive(self, index: int) -> bool:
        return self.processes[index].is_alive()

    def is_alive(self) -> bool:
        """One replica: it is alive. Several: one is (a dead one is being restarted)."""
        return any(p.is_alive() for p in self.processes)

    def restart(self, index: int) -> SchedulerProcess:
        """Blocking (the model loads again): call it off the event loop."""
        logger.error("model replica %d (pid %s) died; restarting it", index, self.processes[index].pid)
        self.processes[index].shutdown()
        self.processes[index] = SchedulerProcess(replica_args(self.server_args, index))
        self.processes[index].wait_ready()
        self.restarts += 1
        logger.info("model replica %d is back (pid %s)", index, self.processes[index].pid)
        return self.processes[index]

    def shutdown(self) -> None:
        for p in self.processes:
            p.shutdown()
