"""What each API call returns to its front end (HTTP route or Engine). Every result carries the
prompt tokens it forwarded, which the route records as the request's usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ScoreResult:
    """SGLang's /v1/score (``Engine.score``)."""

    scores: list[list[float]]  # [num_items][num_scores]
    prompt_tokens: int
    # return_pooled_hidden_states: per item, the hidden state the classifier head read ([H]).
    pooled_hidden_states: Optional[list] = None


@dataclass
class Classification:
    index: int
    label: Optional[str]
    probs: list[float]  # [num_classes], after the activation (raw logits without one)
    num_classes: int


class _TokenCounts:
    token_ids: list

    @property
    def input_tokens(self) -> list[int]:
        """Tokens per input (SGLang's meta_info, Cohere's billed units)."""
        return [len(x) for x in self.token_ids]


@dataclass
class ClassifyResult(_TokenCounts):
    data: list[Classification]
    prompt_tokens: int
    token_ids: list[list[int]] = field(default_factory=list)  # per input, as forwarded (vLLM's LLM outputs)


@dataclass
class EmbedResult(_TokenCounts):
    embeddings: list[list[float]]  # [num_inputs][dimensions]
    prompt_tokens: int
    token_ids: list[list[int]] = field(default_factory=list)  # per input, as tokenized


@dataclass
class PairScores:
    scores: list[float]  # one per pair, in request order
    prompt_tokens: int
    token_ids: list[list[int]] = field(default_factory=list)  # per pair, the tokens that scored it


@dataclass
class DocumentScores:
    """A query against its documents (rerank, vLLM's /score): what every scorer returns."""

    scores: list[float]  # one per document
    prompt_tokens: int  # forwarded
    token_ids: list[list[int]]  # per document, the tokens of its pair (the query's and its own)


@dataclass
class RerankResult:
    index: int
    relevance_score: float
    document: Optional[str]


@dataclass
class RerankOutput:
    results: list[RerankResult]  # by relevance_score, highest first
    prompt_tokens: int


@dataclass
class PoolingResult:
    """vLLM's /pooling: the model's pooled output per input (an embedding, or class scores)."""

    data: list[list[float]]
    prompt_tokens: int
    token_ids: list[list[int]] = field(default_factory=list)  # per input, as tokenized


def sglang_outputs(vectors: list, input_tokens: list[int], rids: list[str], single: bool):
    """SGLang's answer of /encode, /classify and ``Engine.encode``: per input, the vector (an
    embedding, or a classifier's raw class scores) and its meta_info; one object for one input
    (``single``), a list for a list."""
    outs = [{"embedding": v, "meta_info": {"id": rid, "finish_reason": None, "prompt_tokens": n}}
            for v, rid, n in zip(vectors, rids, input_tokens)]
    return outs[0] if single else outs
