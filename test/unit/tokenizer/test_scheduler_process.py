"""SchedulerProcess: started by its constructor, waited for by wait_ready(); every way a start can
fail ends in a RuntimeError with the reason, and leaves no process and no socket folder behind."""

from __future__ import annotations

import os
import shutil

import pytest

from multiscore.server_args import ServerArgs
from multiscore.tokenizer.replicas import ReplicaSet
from multiscore.tokenizer.scheduler_process import SchedulerProcess


def _assert_gone(process: SchedulerProcess) -> None:
    assert not process.is_alive()
    assert not os.path.exists(process.ipc.directory)


def test_a_checkpoint_the_model_process_cannot_load_is_its_reason(tiny_model, tmp_path):
    broken = tmp_path / "no-weights"
    shutil.copytree(tiny_model("qwen3", "seqcls"), broken)
    for weights in broken.glob("*.safetensors"):
        weights.unlink()
    process = SchedulerProcess(ServerArgs(model_path=str(broken), num_threads=1))
    with pytest.raises(RuntimeError, match=r"scheduler failed to start: no weights in .*expected \*\.safetensors"):
        process.wait_ready()
    _assert_gone(process)


def test_the_start_up_timeout_counts_from_the_start(tiny_model):
    process = SchedulerProcess(ServerArgs(model_path=str(tiny_model("qwen3", "seqcls")), num_threads=1,
                                          startup_timeout_s=0.2))
    with pytest.raises(RuntimeError, match="did not become ready within 0 s"):
        process.wait_ready()
    _assert_gone(process)


def test_replicas_start_together_and_are_ready_once_waited_for(tiny_model):
    replicas = ReplicaSet(ServerArgs(model_path=str(tiny_model("qwen3", "seqcls")), dp_size=2, num_threads=1))
    try:
        assert len(replicas) == 2 and all(p.is_alive() for p in replicas.processes)
        assert all(p.ready is None for p in replicas.processes)  # started, not waited for
        assert replicas.wait_ready() is replicas
        assert all(p.ready is not None for p in replicas.processes)
        assert replicas.processes[0].wait_ready() is replicas.ready  # waiting again returns the same report
    finally:
        replicas.shutdown()
    for process in replicas.processes:
        _assert_gone(process)
