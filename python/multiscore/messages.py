"""Typed messages between the main process (TokenizerManager) and the scheduler process.

This module is the written contract between the two processes: plain dataclasses, no logic,
grouped by direction. They travel pickled over ZMQ ipc sockets in a private temporary directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

Activation = Literal["none", "default", "score", "softmax", "sigmoid", "l2"]

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
class PoolingParams:
    """What the model's pooler makes of each read-out row. Activations are applied there, and only
    there (in the scheduler process), whatever the API."""

    # CausalLM: the next-token probabilities to read (SGLang's label_token_ids).
    label_token_ids: Optional[list[int]] = None
    # none | default | score | softmax | sigmoid | l2. "default" is the model's own rule (vLLM's, from
    # the config's problem_type; an embedding model's normalisation); "score" is a classifier's
    # relevance rule (vLLM's /score and rerank: the sentence-transformers cross-encoder activation
    # its config names, else "default"); "l2" normalises an embedding
    # whatever the model's files say (TEI's normalize). On a CausalLM, "none" gives
    # full-vocabulary probabilities and "softmax" a softmax over the label logits only (SGLang's
    # apply_softmax).
    activation: Activation = "none"
    # Embeddings: keep the first k values (Matryoshka), renormalised when the model normalises.
    dimensions: Optional[int] = None
    # vLLM's token tasks: one output per token of the sequence (its hidden state through the
    # model's head) instead of the pooled one.
    per_token: bool = False
    # Token tasks of a model with two token heads (BGE-M3): "embed" (its multi-vector head) or
    # "classify" (its sparse weights).
    token_head: Literal["embed", "classify"] = "embed"
    # SGLang's return_pooled_hidden_states: each output row is the head's values followed by the
    # pooled hidden state the head read ([C + H]).
    return_hidden: bool = False
    # Late interaction (ColBERT): each sequence is a document, and its one output is the MaxSim of
    # its token vectors against this query's [Lq, D] (float32, normalised); tokens whose id is in
    # ``skip_token_ids`` (the model's punctuation skiplist) take no part.
    maxsim_query: Optional[np.ndarray] = None
    skip_token_ids: tuple[int, ...] = ()
    # The model's task adapter the sequences run with (jina-embeddings-v3's LoRA tasks, Jina's ``task``:
    # an index into its ``lora_adaptations``); None: the weights as loaded.
    adapter: Optional[int] = None


@dataclass
class EmbedOverrides:
    """Input embeddings given as vectors (SGLang's ``embed_override_token_id``): the k-th
    occurrence of ``token_id`` in the query, or in an item, takes that sequence's k-th vector
    instead of the token's embedding (a recommender feeding item embeddings to a ranker)."""

    token_id: int
    query: Optional[np.ndarray]  # [k, H] float32, or None
    items: list  # per item: [k_i, H] float32, or None


@dataclass
class TokenizedScoreRequest:
    """One API call's model work, already tokenized and validated: a query and its items."""

    rid: str
    query_ids: list[int]
    items_ids: list[list[int]]
    pooling: PoolingParams
    # True: pack as query D item_1 D ... item_N D (MIS); False: one sequence per item.
    mis: bool = False
    item_first: bool = False  # single-item sequences as item + query
    # Encoders: token type ids of each item (a whole tokenized pair; the query is then empty). A decoder that
    # compresses passages (models/token_compression.py): each item's passage (1) and prompt (2) tokens.
    items_token_type_ids: Optional[list[list[int]]] = None
    embed_overrides: Optional[EmbedOverrides] = None
    priority: int = 0  # SGLang's: higher runs first; requests of one priority take turns
    # Encoders, per item: every token attends to the item's first k tokens only (None: to all).
    # ColBERT's query expansion: the [MASK] tokens padding a query read it, and nothing reads them.
    items_key_lens: Optional[list[Optional[int]]] = None


@dataclass
class AbortRequest:
    """The caller gave up (client disconnected, timeout): drop the request's waiting sequences."""

    rid: str


@dataclass
class HealthCheckRequest:
    """Answered with a HealthCheckOutput by a live scheduler loop."""

    rid: str


@dataclass
class GetStatsRequest:
    """Answered with the scheduler's counters (/metrics, /get_server_info)."""

    rid: str


@dataclass
class FlushCacheRequest:
    """Empty every cache the scheduler keeps (SGLang's /flush_cache); answered with FlushCacheOutput."""

    rid: str


@dataclass
class FreezeGCRequest:
    """Freeze the garbage collector's view of every object alive now (SGLang's /freeze_gc, gc_heap.py);
    answered with FreezeGCOutput."""

    rid: str


@dataclass
class LoadLoraAdapterRequest:
    """Load a PEFT LoRA adapter beside the others (vLLM's /v1/load_lora_adapter); answered with
    LoadLoraAdapterOutput. It becomes adapter ``index`` (PoolingParams.adapter)."""

    rid: str
    name: str
    path: str
    index: int


@dataclass
class ShutdownRequest:
    pass


# ---- Scheduler -> TokenizerManager -------------------------------------------------------------


@dataclass
class SchedulerReady:
    """Sent once, after the model is loaded and the loop is about to start."""

    device: str
    dtype: str
    dtype_reason: str  # why this dtype (--dtype auto decides by checkpoint and CPU)
    attention_backend: str
    compiled: bool = False  # --compile: the fused element-wise ops run compiled
    compile_reason: str = ""
    compile_seconds: float = 0.0  # compilation and warm-up at start-up
    linear_kernel: str = ""  # what runs the body's linear layers (oneDNN packed weights or F.linear)
    prefix_cache: str = ""  # "on: N MB", or "off: why"
    cpu_memory: str = ""  # whether freed tensor memory is kept for reuse (model_executor/cpu_memory.py)
    gc_frozen: int = 0  # objects frozen after start-up (gc_heap.py); 0 with --disable-gc-freeze


@dataclass
class SchedulerInitFailed:
    reason: str


@dataclass
class RequestOutput:
    rid: str
    # [num_items][C], one row per item: label probabilities (C = len(label_token_ids)), class
    # scores (C = num_labels) or an embedding (C = its dimensions); token tasks: [num_items][tokens][C].
    outputs: list
    prompt_tokens: int  # tokens forwarded for this request (MIS: the query once per packed sequence)


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
    forward_seconds: float = 0.0  # wall time inside the model's forward passes, outputs on the host
    finished_requests: int = 0
    queued_sequences: int = 0
    aborted_requests: int = 0
    aborted_sequences: int = 0
    # The prefix cache across requests (model_executor/prefix_cache_runner.py), read at each stats request.
    prefix_cache_hits: int = 0  # sequences that found part of their query cached
    prefix_cache_misses: int = 0  # sequences that could have, and found none
    prefix_cache_hit_tokens: int = 0  # query tokens read from the cache instead of computed
    prefix_cache_query_tokens: int = 0  # cacheable query tokens seen
    prefix_cache_tokens: int = 0  # tokens held now
    prefix_cache_bytes: int = 0  # their keys and values
    # Per replica (--dp-size): replica, pid, alive, outstanding_tokens, forward_passes, ... (filled
    # by the main process; each scheduler leaves it empty).
    replicas: list = field(default_factory=list)
    resent_requests: int = 0  # requests sent again because the replica running them died
    replica_restarts: int = 0
    # Batch-size histograms: passes per bucket, bucket i holding sizes <= edges[i] (last: larger).
    batch_tokens_counts: list = field(default_factory=lambda: [0] * (len(BATCH_TOKEN_EDGES) + 1))
    batch_sequences_counts: list = field(default_factory=lambda: [0] * (len(BATCH_SEQUENCE_EDGES) + 1))


@dataclass
class HealthCheckOutput:
    rid: str


@dataclass
class StatsOutput:
    rid: str
    stats: SchedulerStats


@dataclass
class FlushCacheOutput:
    rid: str
    success: bool


@dataclass
class LoadLoraAdapterOutput:
    rid: str
    error: str = ""  # empty: loaded


@dataclass
class FreezeGCOutput:
    rid: str
    frozen: int  # objects now frozen in the scheduler process
