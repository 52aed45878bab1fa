"""The scheduler process: receives tokenized requests over ZMQ, batches them, runs the worker, answers.

I/O and counters live here; batching decisions live in SchedulePolicy (policy.py). The main
process's handle on this process is ``multiscore.tokenizer.scheduler_process``.
"""

from __future__ import annotations

import bisect
import logging
import json
import os
import signal
import sys
import time
import traceback

import zmq

from multiscore.messages import (
    BATCH_SEQUENCE_EDGES,
    BATCH_TOKEN_EDGES,
    AbortRequest,
    FlushCacheOutput,
    FlushCacheRequest,
    FreezeGCOutput,
    FreezeGCRequest,
    GetStatsRequest,
    HealthCheckOutput,
    HealthCheckRequest,
    IpcPaths,
    LoadLoraAdapterOutput,
    LoadLoraAdapterRequest,
    RequestFailed,
    SchedulerInitFailed,
    SchedulerReady,
    SchedulerStats,
    ShutdownRequest,
    StatsOutput,
    TokenizedScoreRequest,
)
from multiscore.gc_heap import freeze_gc_heap
from multiscore.server_args import SCHEDULE_POLICIES, ServerArgs

logger = logging.getLogger(__name__)

_IDLE_POLL_MS = 500  # how often an idle scheduler checks that its parent is alive


def record_batch(stats: SchedulerStats, num_sequences: int, num_tokens: int, seconds: float = 0.0) -> None:
    stats.forward_passes += 1
    stats.forward_seconds += seconds
    stats.forward_sequences += num_sequences
    stats.forward_tokens += num_tokens
    stats.batch_tokens_counts[bisect.bisect_left(BATCH_TOKEN_EDGES, num_tokens)] += 1
    stats.batch_sequences_counts[bisect.bisect_left(BATCH_SEQUENCE_EDGES, num_sequences)] += 1


class Scheduler:
    def __init__(self, server_args: ServerArgs, ipc: IpcPaths, parent_pid: int) -> None:
        from multiscore.configs.model_config import ModelConfig
        from multiscore.model_executor.model_worker import ModelWorker
        from multiscore.scheduler.policy import SchedulePolicy

        self.parent_pid = parent_pid
        model_config = ModelConfig.from_server_args(server_args)
        self.worker = ModelWorker(server_args, model_config)
        self.policy = SchedulePolicy(
            max_prefill_tokens=server_args.max_prefill_tokens,
            pack_limit=min(model_config.context_length, server_args.max_prefill_tokens),
            delimiter=server_args.multi_item_scoring_delimiter,
            share_query=not server_args.disable_radix_cache and model_config.kind.shares_query,
            order=SCHEDULE_POLICIES[server_args.schedule_policy],
        )
        self.context = zmq.Context()
        self.recv_socket = self.context.socket(zmq.PULL)
        self.recv_socket.bind(ipc.requests)
        self.send_socket = self.context.socket(zmq.PUSH)
        self.send_socket.bind(ipc.results)
        self.stats = SchedulerStats()
        # Last, after the model load and warm-up: everything alive now lives as long as the process.
        self.gc_frozen = 0 if server_args.disable_gc_freeze else freeze_gc_heap("model process")

    def ready_message(self) -> SchedulerReady:
        return SchedulerReady(
            device=str(self.worker.device), dtype=str(self.worker.dtype).removeprefix("torch."),
            dtype_reason=self.worker.dtype_reason, attention_backend=self.worker.backend_name,
            compiled=self.worker.compile.compiled, compile_reason=self.worker.compile.reason,
            compile_seconds=self.worker.compile.seconds, linear_kernel=self.worker.linear_kernel,
            prefix_cache=self.worker.prefix_cache_reason, cpu_memory=self.worker.cpu_memory, gc_frozen=self.gc_frozen,
        )

    def event_loop(self) -> None:
        while True:
            timeout = 0 if self.policy.has_work() else _IDLE_POLL_MS
            if self.recv_socket.poll(timeout):
                if not self._drain_requests():
                    return
            if os.getppid() != self.parent_pid:
                logger.warning("parent process is gone; scheduler exits")
                return
            if self.policy.has_work():
                self._run_batch()

    def _drain_requests(self) -> bool:
        """Take every waiting message; False on shutdown."""
        while True:
            try:
                msg = self.recv_socket.recv_pyobj(zmq.NOBLOCK)
            except zmq.Again:
                return True
            if isinstance(msg, TokenizedScoreRequest):
                immediate = self.policy.add_request(msg)
                if immediate is not None:
                    self.send_socket.send_pyobj(immediate)
            elif isinstance(msg, AbortRequest):
                dropped = self.policy.abort(msg.rid)
                if dropped is not None:
                    self.stats.aborted_requests += 1
                    self.stats.aborted_sequences += dropped
            elif isinstance(msg, HealthCheckRequest):
                self.send_socket.send_pyobj(HealthCheckOutput(rid=msg.rid))
            elif isinstance(msg, GetStatsRequest):
                self.stats.queued_sequences = self.policy.num_waiting_sequences
                self._read_cache_stats()
                self.send_socket.send_pyobj(StatsOutput(rid=msg.rid, stats=self.stats))
            elif isinstance(msg, FlushCacheRequest):
                # Between batches nothing is locked: the whole cache empties.
                if self.worker.prefix_cache is not None:
                    self.worker.prefix_cache.flush()
                self.send_socket.send_pyobj(FlushCacheOutput(rid=msg.rid, success=True))
            elif isinstance(msg, LoadLoraAdapterRequest):  # between batches: no pass sees a half-made stack
                try:
                    self.worker.add_lora_adapter(msg.name, msg.path, msg.index)
                    self.send_socket.send_pyobj(LoadLoraAdapterOutput(rid=msg.rid))
                except Exception as e:  # a bad adapter leaves the served ones as they were
                    self.send_socket.send_pyobj(LoadLoraAdapterOutput(rid=msg.rid, error=str(e)))
            elif isinstance(msg, FreezeGCRequest):
                self.send_socket.send_pyobj(FreezeGCOutput(rid=msg.rid, frozen=freeze_gc_heap("model process")))
            elif isinstance(msg, ShutdownRequest):
                return False

    def _read_cache_stats(self) -> None:
        cache = self.worker.prefix_cache
        if cache is None:
            return
        s, c = self.stats, cache.stats
        s.prefix_cache_hits, s.prefix_cache_misses = c.hits, c.misses
        s.prefix_cache_hit_tokens, s.prefix_cache_query_tokens = c.hit_tokens, c.query_tokens
        s.prefix_cache_tokens, s.prefix_cache_bytes = cache.cached_tokens, cache.cached_bytes

    def _run_batch(self) -> None:
        batch = self.policy.schedule()
        start = time.perf_counter()
        try:
            outputs = self.worker.forward(batch)
        except Exception as e:  # our fault: fail these requests, keep serving the rest
            logger.exception("forward pass failed")
            for rid in self.policy.fail_batch(batch):
                self.send_socket.send_pyobj(RequestFailed(rid=rid, message=f"internal error: {e}"))
            return
        record_batch(self.stats, num_sequences=len(batch), num_tokens=sum(len(seq) for seq in batch),
                     seconds=time.perf_counter() - start)
        for out in self.policy.process_output(batch, outputs):
            self.stats.finished_requests += 1
            self.send_socket.send_pyobj(out)


def run_scheduler_process(server_args: ServerArgs, ipc: IpcPaths, parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=server_args.log_level.upper(), format="%(asctime)s scheduler %(levelname)s %(message)s")
    context = zmq.Context()
    init_socket = context.socket(zmq.PUSH)
    init_socket.connect(ipc.init)
    try:
        scheduler = Scheduler(server_args, ipc, parent_pid)
    except Exception as e:
        reason = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        init_socket.send_pyobj(SchedulerInitFailed(reason=reason))
        init_socket.close(linger=2000)
        return
    init_socket.send_pyobj(scheduler.ready_message())
    init_socket.close(linger=2000)
    scheduler.event_loop()


def main() -> None:
    """Entry point of the scheduler process: ``python -c ... '<json payload>'``."""
    spec = json.loads(sys.argv[1])
    run_scheduler_process(ServerArgs(**spec["server_args"]), IpcPaths(spec["ipc_dir"]), spec["parent_pid"])
