"""Typed messages between the main process (TokenizerManager) and the scheduler process.

This module is the written contract between the two processes: plain dataclasses, no logic.
They travel pickled over ZMQ ipc sockets that live in a private temporary directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# ---- Where the messages travel ------------------------------------------------------------------


@dataclass(frozen=True)
class IpcPaths:
    """ZMQ endpoints in a private (0700) temporary directory, removed at shutdown."""

    directory: str

    @property
    def requests(self) -> str:  # main -> scheduler
        return f"ipc://{self.directory}/requests.sock"

    @property
    def results(self) -> str:  # scheduler -> main
        return f"ipc://{self.directory}/results.sock"

    @property
    def init(self) -> str:  # scheduler -> main, once: ready or failed
        return f"ipc://{self.directory}/init.sock"


# ---- TokenizerManager -> Scheduler -------------------------------------------------------------


@dataclass
class TokenizedScoreRequest:
    """One /v1/score call (or Engine.score), already tokenized and validated."""

    rid: str
    query_ids: list[int]
    items_ids: list[list[int]]
    # CausalLM: the label columns to read; None for SequenceClassification.
    label_token_ids: Optional[list[int]]
    apply_softmax: bool
    item_first: bool
    # False: every item is its own sequence even on an MIS server (classify: unrelated inputs).
    pack: bool = True
    # Encoders: token type ids of each item (a whole tokenized pair; the query is then empty).
    items_token_type_ids: Optional[list[list[int]]] = None


@dataclass
class AbortRequest:
    """The caller gave up (client disconnected, timeout): drop the request's waiting sequences."""

    rid: str


@dataclass
class HealthCheckRequest:
    rid: str


@dataclass
class ShutdownRequest:
    pass


# ---- Scheduler -> TokenizerManager -------------------------------------------------------------


@dataclass
class SchedulerReady:
    """Sent once, after the model is loaded and the loop is about to start."""

    device: str
    dtype: str
    attention_backend: str


@dataclass
class SchedulerInitFailed:
    reason: str


@dataclass
class ScoreOutput:
    rid: str
    # [num_items][num_scores]; num_scores = len(label_token_ids) or num_labels.
    scores: list[list[float]]
    prompt_tokens: int


@dataclass
class RequestFailed:
    """A request the scheduler could not serve (our fault, not the user's): becomes HTTP 500."""

    rid: str
    message: str


BATCH_TOKEN_EDGES = (16, 64, 256, 1024, 4096, 16384, 65536)
BATCH_SEQUENCE_EDGES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass
class SchedulerStats:
    """Counters since start-up; their ratios tell how well traffic batches (tokens per forward pass)."""

    forward_passes: int = 0
    forward_tokens: int = 0
    forward_sequences: int = 0
    finished_requests: int = 0
    queued_sequences: int = 0
    aborted_requests: int = 0
    aborted_sequences: int = 0
    # Batch-size histograms: passes per bucket, bucket i holding sizes <= edges[i] (last: larger).
    batch_tokens_counts: list = field(default_factory=lambda: [0] * (len(BATCH_TOKEN_EDGES) + 1))
    batch_sequences_counts: list = field(default_factory=lambda: [0] * (len(BATCH_SEQUENCE_EDGES) + 1))


@dataclass
class HealthCheckOutput:
    rid: str
    stats: SchedulerStats = field(default_factory=SchedulerStats)
