"""TokenizerManager: validates and tokenizes score calls, sends them to the scheduler, awaits answers.

Lives in the caller's process (the HTTP server's, or Engine's background event loop). It talks
to the scheduler process over two ZMQ sockets and matches answers to callers by request id.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

import zmq
import zmq.asyncio

from multiscore.tokenizer.inputs import check_label_token_ids, check_lengths, check_token_ids, classify_inputs
from multiscore.messages import (
    AbortRequest,
    HealthCheckOutput,
    HealthCheckRequest,
    RequestFailed,
    TokenizedScoreRequest,
)
from multiscore.configs.model_config import ModelConfig, load_tokenizer
from multiscore.server_args import ServerArgs

logger = logging.getLogger(__name__)

_WATCHDOG_S = 1.0


@dataclass
class ScoreResult:
    scores: list[list[float]]  # [num_items][num_scores]
    prompt_tokens: int


class SchedulerUnavailable(RuntimeError):
    """The scheduler process died or does not answer."""


class Overloaded(RuntimeError):
    """--max-queued-requests requests are in flight already: the caller should retry later."""


class RequestTimedOut(RuntimeError):
    """The request was not answered within --request-timeout-s; its work was dropped."""


# Per-request figures for the access log and metrics: the HTTP gate sets a fresh dict per request,
# and the score calls that request makes add to it (contextvars follow the request's tasks).
request_usage: contextvars.ContextVar[Optional[dict]] = contextvars.ContextVar("request_usage", default=None)


class TokenizerManager:
    def __init__(
        self, server_args: ServerArgs, model_config: ModelConfig, requests_addr: str, results_addr: str,
        scheduler_alive: Callable[[], bool],
    ) -> None:
        self.server_args = server_args
        self.model_config = model_config
        self.tokenizer = load_tokenizer(model_config.tokenizer_path, server_args.trust_remote_code)
        self.requests_addr, self.results_addr = requests_addr, results_addr
        self.scheduler_alive = scheduler_alive
        self.mis_delimiter = server_args.multi_item_scoring_delimiter
        if self.mis_delimiter is not None:
            check_token_ids([self.mis_delimiter], model_config.vocab_size, "--multi-item-scoring-delimiter")
        self._pending: dict[str, asyncio.Future] = {}
        self._scores_in_flight = 0  # score requests sent and not yet answered (--max-queued-requests)
        self._ids = itertools.count()
        self._started = False

    # ---- public API ---------------------------------------------------------------------------

    async def score(
        self, query, items, label_token_ids: Optional[list[int]] = None, apply_softmax: bool = False,
        item_first: bool = False,
    ) -> ScoreResult:
        req = self.tokenize_score_request(query, items, label_token_ids, apply_softmax, item_first)
        return await self._score(req)

    async def health_check(self, timeout_s: float = 5.0) -> HealthCheckOutput:
        if not self.scheduler_alive():
            raise SchedulerUnavailable("the scheduler process is not running")
        try:
            return await asyncio.wait_for(self._call(HealthCheckRequest(rid=self._new_rid("health"))), timeout_s)
        except asyncio.TimeoutError:
            raise SchedulerUnavailable(f"the scheduler did not answer within {timeout_s:.0f} s") from None

    async def score_ids(
        self, query_ids: list[int], items_ids: list[list[int]], pack: bool = True,
        items_token_type_ids: Optional[list[list[int]]] = None,
    ) -> ScoreResult:
        """Score already-tokenized items against a tokenized query (classifiers: raw head logits;
        embedding models: one vector per item). ``pack=False`` forwards every item as its own
        sequence even on an MIS server; ``items_token_type_ids`` (encoders) go with an empty query."""
        req = self.build_score_request(query_ids, items_ids, None, False, False, pack, items_token_type_ids)
        return await self._score(req)

    async def _score(self, req: TokenizedScoreRequest) -> ScoreResult:
        """Send a score request, bounded by the queue limit and the request timeout; a caller that
        gives up (timeout, cancelled by a client disconnect) has its work dropped by the scheduler."""
        args = self.server_args
        if self._scores_in_flight >= args.max_queued_requests:
            raise Overloaded(f"the server is at --max-queued-requests={args.max_queued_requests}; retry shortly")
        self._scores_in_flight += 1
        try:
            out = await asyncio.wait_for(self._call(req), args.request_timeout_s)
        except asyncio.TimeoutError:
            raise RequestTimedOut(f"the request was not answered within --request-timeout-s={args.request_timeout_s:g} s") from None
        finally:
            self._scores_in_flight -= 1
        usage = request_usage.get()
        if usage is not None:
            usage["items"] += len(req.items_ids)
            usage["tokens"] += out.prompt_tokens
        return ScoreResult(scores=out.scores, prompt_tokens=out.prompt_tokens)

    def tokenize_score_request(self, query, items, label_token_ids, apply_softmax, item_first) -> TokenizedScoreRequest:
        kind, items = classify_inputs(query, items)
        if kind == "text":
            # Query with special tokens, items without: identical ids in MIS and single-item mode (DESIGN §3).
            query_ids = self.tokenizer(query)["input_ids"]
            items_ids = self.tokenizer(items, add_special_tokens=False)["input_ids"] if items else []
        else:
            query_ids, items_ids = list(query), [list(it) for it in items]
        return self.build_score_request(query_ids, items_ids, label_token_ids, apply_softmax, item_first)

    def build_score_request(
        self, query_ids, items_ids, label_token_ids, apply_softmax, item_first, pack: bool = True,
        items_token_type_ids: Optional[list[list[int]]] = None,
    ) -> TokenizedScoreRequest:
        cfg = self.model_config
        labels = check_label_token_ids(label_token_ids, cfg.vocab_size, cfg.is_causal_lm)
        check_token_ids(query_ids, cfg.vocab_size, "'query'")
        for i, item in enumerate(items_ids):
            check_token_ids(item, cfg.vocab_size, f"item {i}")
        args = self.server_args
        if len(items_ids) > args.max_items_per_request:
            raise ValueError(f"the request has {len(items_ids)} items, more than --max-items-per-request={args.max_items_per_request}")
        total = len(query_ids) + sum(len(it) for it in items_ids)
        if total > args.max_tokens_per_request:
            raise ValueError(f"the request has {total} tokens, more than --max-tokens-per-request={args.max_tokens_per_request}")
        packed = pack and self.mis_delimiter is not None and len(items_ids) > 1
        check_lengths(len(query_ids), [len(it) for it in items_ids], cfg.context_length, packed)
        return TokenizedScoreRequest(
            rid=self._new_rid("score"), query_ids=query_ids, items_ids=items_ids, label_token_ids=labels,
            apply_softmax=bool(apply_softmax), item_first=bool(item_first), pack=pack,
            items_token_type_ids=items_token_type_ids,
        )

    # ---- plumbing -----------------------------------------------------------------------------

    def _new_rid(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}-{uuid.uuid4().hex[:8]}"

    def _ensure_started(self) -> None:
        """Create the sockets and background tasks inside the event loop that will use them."""
        if self._started:
            return
        self._context = zmq.asyncio.Context()
        self._send = self._context.socket(zmq.PUSH)
        self._send.connect(self.requests_addr)
        self._recv = self._context.socket(zmq.PULL)
        self._recv.connect(self.results_addr)
        self._tasks = [asyncio.ensure_future(self._receive_loop()), asyncio.ensure_future(self._watchdog())]
        self._started = True

    async def _call(self, req):
        self._ensure_started()
        if not self.scheduler_alive():
            raise SchedulerUnavailable("the scheduler process is not running")
        future = asyncio.get_running_loop().create_future()
        self._pending[req.rid] = future
        try:
            await self._send.send_pyobj(req)
            return await future
        finally:
            self._pending.pop(req.rid, None)
            # Cancelling the awaiting task cancels ``future`` too: "cancelled" means the caller left.
            if (future.cancelled() or not future.done()) and isinstance(req, TokenizedScoreRequest):
                # Cancelled (client gone) or timed out: the scheduler drops what is still queued.
                self._send.send_pyobj(AbortRequest(rid=req.rid), zmq.NOBLOCK)

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
        """Fail waiting callers at once if the scheduler process dies, instead of hanging them."""
        while True:
            await asyncio.sleep(_WATCHDOG_S)
            if not self.scheduler_alive():
                for future in list(self._pending.values()):
                    if not future.done():
                        future.set_exception(SchedulerUnavailable("the scheduler process died"))

    def close(self) -> None:
        if self._started:
            for task in self._tasks:
                task.cancel()
            self._context.destroy(linger=0)
            self._started = False


__all__ = ["Overloaded", "RequestTimedOut", "ScoreResult", "SchedulerUnavailable", "TokenizerManager", "request_usage"]
