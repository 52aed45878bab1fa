"""What the classify / embed / pair-score / rerank calls return, and the activations and
truncation rules they share (vLLM's semantics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Classification:
    index: int
    label: Optional[str]
    probs: list[float]  # [num_classes], after the activation (raw logits without one)
    num_classes: int


@dataclass
class ClassifyResult:
    data: list[Classification]
    prompt_tokens: int


@dataclass
class EmbedResult:
    embeddings: list[list[float]]  # [num_inputs][dimensions]
    prompt_tokens: int


@dataclass
class PairScores:
    scores: list[float]  # one per pair, in request order
    prompt_tokens: int


@dataclass
class RerankResult:
    index: int
    relevance_score: float
    document: Optional[str]


@dataclass
class RerankOutput:
    results: list[RerankResult]  # by relevance_score, highest first
    prompt_tokens: int


def score_matrix(scores: list, rows: int, dtype=np.float32) -> np.ndarray:
    """The scheduler's score rows -> [rows, C]."""
    return np.asarray(scores, dtype=dtype).reshape(rows, -1)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length ([N, D]); an all-zero row stays zero."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def activation_of(hf_config) -> Optional[str]:
    """vLLM's rule from the config's ``problem_type``: single-label -> softmax (sigmoid with one
    label), multi-label -> sigmoid, regression -> none."""
    problem = getattr(hf_config, "problem_type", None)
    if problem == "regression":
        return None
    if problem == "multi_label_classification" or hf_config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def activate(logits: np.ndarray, kind: Optional[str]) -> np.ndarray:
    """logits [N, C] float -> [N, C] float64."""
    x = logits.astype(np.float64)
    if kind == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, without exp overflow
    if kind == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return x


def resolve_truncation(truncate_prompt_tokens: Optional[int], context_length: int) -> Optional[int]:
    """vLLM's ``truncate_prompt_tokens``: None = off, -1 = the context length, k >= 1 tokens."""
    if truncate_prompt_tokens is None:
        return None
    if truncate_prompt_tokens == -1:
        return context_length
    if truncate_prompt_tokens < 1:
        raise ValueError("'truncate_prompt_tokens' must be a positive number of tokens, or -1 for the context length")
    if truncate_prompt_tokens > context_length:
        raise ValueError(
            f"'truncate_prompt_tokens' ({truncate_prompt_tokens}) is larger than the model's context length "
            f"({context_length})"
        )
    return truncate_prompt_tokens
