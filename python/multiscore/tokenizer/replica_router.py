"""The main process's line to the model replicas: one PUSH socket per replica, one PULL socket
for every answer, answers matched to callers by request id.

- A request goes to the live replica with the fewest outstanding tokens; a large MIS request
  (more tokens than one forward pass takes) is split into contiguous runs of items across the
  live replicas, and its answers joined in order (scores do not change: each packed sequence
  carries the full query, DESIGN.md §4).
- A replica that dies (dp_size > 1) is restarted in the background; the requests it held are sent
  once more to a live replica (scoring is idempotent), so none is lost. With one replica a death
  fails the waiting callers at once, and the server stops (launch_server), as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math

import zmq
import zmq.asyncio

from multiscore.messages import AbortRequest, RequestFailed, RequestOutput, TokenizedScoreRequest
from multiscore.tokenizer.replicas import ReplicaSet

logger = logging.getLogger(__name__)

_WATCHDOG_S = 1.0


class SchedulerUnavailable(RuntimeError):
    """The scheduler process died or does not answer."""


def request_tokens(req: TokenizedScoreRequest) -> int:
    return len(req.query_ids) + sum(map(len, req.items_ids))


class ReplicaRouter:
    def __init__(self, replicas: ReplicaSet, max_prefill_tokens: int) -> None:
        self.replicas = replicas
        self.max_prefill_tokens = max_prefill_tokens
        n = len(replicas)
        self.load = [0] * n  # outstanding tokens per replica
        self._pending: dict[str, asyncio.Future] = {}
        self._inflight: dict[str, tuple[int, TokenizedScoreRequest, int]] = {}  # rid -> (replica, request, tokens)
        self._resent: set[str] = set()
        self._restarting: set[int] = set()
        self._started = False

    # ---- sockets, created inside the event loop that uses them ----------------------------------

    def _ensure_started(self) -> None:
        if self._started:
            return
        self._context = zmq.asyncio.Context()
        self._sends = [self._push(i) for i in range(len(self.replicas))]
        self._recv = self._context.socket(zmq.PULL)
        for process in self.replicas.processes:
            self._recv.connect(process.ipc.results)
        self._tasks = [asyncio.ensure_future(self._receive_loop()), asyncio.ensure_future(self._watchdog())]
        self._started = True

    def _push(self, index: int):
        sock = self._context.socket(zmq.PUSH)
        sock.connect(self.replicas.processes[index].ipc.requests)
        return sock

    def live(self) -> list[int]:
        return [i for i in range(len(self.replicas)) if i not in self._restarting and self.replicas.alive(i)]

    # ---- score requests -------------------------------------------------------------------------

    async def request(self, req: TokenizedScoreRequest) -> RequestOutput:
        self._ensure_started()
        parts = self._split(req)
        if len(parts) == 1:
            return await self._one(req)
        outs = await asyncio.gather(*(self._one(part) for part in parts))
        return RequestOutput(rid=req.rid, outputs=[row for out in outs for row in out.outputs],
                             prompt_tokens=sum(out.prompt_tokens for out in outs))

    def _split(self, req: TokenizedScoreRequest) -> list[TokenizedScoreRequest]:
        """A large MIS request -> contiguous runs of its items, one per live replica it needs."""
        tokens = request_tokens(req)
        live = len(self.live())
        if live < 2 or not req.mis or req.embed_overrides is not None or tokens <= self.max_prefill_tokens:
            return [req]
        k = min(live, len(req.items_ids), math.ceil(tokens / self.max_prefill_tokens))
        bounds, run, target = [0], 0, sum(len(it) + 1 for it in req.items_ids) / k  # each part's share of the items
        for i, item in enumerate(req.items_ids):
            run += len(item) + 1
            if run >= target * len(bounds) and len(bounds) < k and i + 1 < len(req.items_ids):
                bounds.append(i + 1)
        bounds.append(len(req.items_ids))
        return [dataclasses.replace(req, rid=f"{req.rid}.{j}", items_ids=req.items_ids[a:b])
                for j, (a, b) in enumerate(zip(bounds, bounds[1:]))]

    async def _one(self, req: TokenizedScoreRequest) -> RequestOutput:
        live = self.live()
        if not live:
            raise SchedulerUnavailable("the scheduler process is not running")
        future = asyncio.get_running_loop().create_future()
        self._pending[req.rid] = future
        try:
            await self._send_to(min(live, key=lambda i: self.load[i]), req, request_tokens(req))
            return await future
        finally:
            self._pending.pop(req.rid, None)
            entry = self._inflight.pop(req.rid, None)
            if entry is not None:
                self.load[entry[0]] -= entry[2]
            # Cancelling the awaiting task cancels ``future`` too: "cancelled" means the caller left.
            if (future.cancelled() or not future.done()) and entry is not None and entry[0] in self.live():
                self._sends[entry[0]].send_pyobj(AbortRequest(rid=req.rid), zmq.NOBLOCK)

    async def _send_to(self, index: int, req: TokenizedScoreRequest, tokens: int) -> None:
        self._inflight[req.rid] = (index, req, tokens)
        self.load[index] += tokens
        await self._sends[index].send_pyobj(req)

    # ---- messages every replica answers (health, stats, flush) ----------------------------------

    async def ask_all(self, make_message) -> list:
        """``make_message(rid)`` sent to every live replica -> their answers, in replica order."""
        self._ensure_started()
        live = self.live()
        if not live:
            raise SchedulerUnavailable("the scheduler process is not running")
        futures = []
        for i in live:
            msg = make_message(i)
            future = asyncio.get_running_loop().create_future()
            self._pending[msg.rid] = future
            futures.append((msg.rid, future))
            await self._sends[i].send_pyobj(msg)
        try:
            return [await future for _, future in futures]
        finally:
            for rid, _ in futures:
                self._pending.pop(rid, None)

    # ---- answers and deaths ---------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            msg = await self._recv.recv_pyobj()
            future = self._pending.get(msg.rid)
            if future is None or future.done():
                continue  # the caller gave up (timeout, disconnect)
            if isinstance(msg, RequestFailed):
                future.set_exception(RuntimeError(msg.message))
            else:
                future.set_result(msg)

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(_WATCHDOG_S)
            for i in range(len(self.replicas)):
                if i not in self._restarting and not self.replicas.alive(i):
                    await self._on_death(i)

    async def _on_death(self, index: int) -> None:
        if len(self.replicas) == 1:  # nothing to fail over to: fail the waiting callers at once
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(SchedulerUnavailable("the scheduler process died"))
            return
        self._restarting.add(index)
        for rid, (replica, req, tokens) in list(self._inflight.items()):
            if replica != index:
                continue
            self.load[index] -= tokens
            future, live = self._pending.get(rid), self.live()
            if future is None or future.done():
                self._inflight.pop(rid, None)
                continue
            if rid in self._resent or not live:
                future.set_exception(SchedulerUnavailable("the model replica running this request died"))
                continue
            self._resent.add(rid)  # once: a request that kills replicas is not passed around forever
            await self._send_to(min(live, key=lambda i: self.load[i]), req, tokens)
        asyncio.ensure_future(self._restart(index))

    async def _restart(self, index: int) -> None:
        try:
            process = await asyncio.to_thread(self.replicas.restart, index)
        except Exception:
            logger.exception("model replica %d could not be restarted; trying again", index)
            self._restarting.discard(index)  # the watchdog sees it dead again and retries
            return
        self._sends[index].close(linger=0)
        self._sends[index] = self._push(index)
        self._recv.connect(process.ipc.results)
        self.load[index] = 0
        self._restarting.discard(index)

    @property
    def resent(self) -> int:
        return len(self._resent)

    def states(self) -> list[dict]:
        return [{"replica": i, "pid": self.replicas.processes[i].pid, "alive": i in self.live(),
                 "outstanding_tokens": self.load[i]} for i in range(len(self.replicas))]

    def close(self) -> None:
        if self._started:
            for task in self._tasks:
                task.cancel()
            self._context.destroy(linger=0)
            self._started = False
