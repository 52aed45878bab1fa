"""Classify, pair scoring and rerank (the vLLM / Cohere / Jina APIs) on top of TokenizerManager.

Every call here becomes ``TokenizerManager.score_ids`` requests on a classification head:
- classify: each input is its own sequence (``pack=False``), logits -> the config's activation;
- pair scores and rerank: the pairs sharing a query are one request (one MIS pass when the
  server has a delimiter), the single logit -> sigmoid.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Optional

import numpy as np

from multiscore.managers.score_inputs import is_token_list
from multiscore.managers.score_template import ScoreTemplate
from multiscore.managers.tokenizer_manager import TokenizerManager

_CONVERT_HINT = (
    "serve a reranker with one label, or convert a causal LM with --json-model-override-args "
    '\'{"classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"}\''
)


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


class ScoreService:
    def __init__(self, tm: TokenizerManager) -> None:
        self.tm = tm
        self.model_config = tm.model_config
        name = tm.server_args.score_template
        if name is None and self.model_config.is_original_qwen3_reranker:
            name = "qwen3_reranker"
        self.template: Optional[ScoreTemplate] = ScoreTemplate.load(name) if name else None

    # ---- classify -----------------------------------------------------------------------------

    async def classify(
        self, inputs, use_activation: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
        add_special_tokens: bool = True,
    ) -> ClassifyResult:
        cfg = self.model_config
        if cfg.is_causal_lm:
            raise ValueError(f"classify needs a classification model, and this one is a CausalLM; {_CONVERT_HINT}")
        ids = self._classify_ids(inputs, add_special_tokens)
        keep = resolve_truncation(truncate_prompt_tokens, cfg.context_length)
        if keep is not None:
            ids = [x[-keep:] for x in ids]  # vLLM keeps the last k tokens
        for i, x in enumerate(ids):
            if not x:
                raise ValueError(f"input {i} is empty: there is no token to classify")
        out = await self.tm.score_ids([], ids, pack=False)
        kind = activation_of(cfg.hf_config) if use_activation is not False else None
        probs = activate(np.asarray(out.scores, dtype=np.float32).reshape(len(ids), -1), kind)
        data = [
            Classification(i, cfg.label_name(int(row.argmax())), row.tolist(), int(row.shape[0]))
            for i, row in enumerate(probs)
        ]
        return ClassifyResult(data, out.prompt_tokens)

    def _classify_ids(self, inputs, add_special_tokens: bool) -> list[list[int]]:
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            raise ValueError("'input' must be a non-empty string, list of strings, or token ids")
        if all(isinstance(x, str) for x in inputs):
            return self.tm.tokenizer(inputs, add_special_tokens=add_special_tokens)["input_ids"]
        if is_token_list(inputs):
            return [list(inputs)]
        if all(is_token_list(x) for x in inputs):
            return [list(x) for x in inputs]
        raise ValueError("'input' must be a string, a list of strings, a list of token ids or a list of such lists")

    # ---- pair scores and rerank -----------------------------------------------------------------

    async def score_pairs(
        self, queries: list[str], documents: list[str], use_activation: Optional[bool] = None,
        truncate_prompt_tokens: Optional[int] = None, instruction: Optional[str] = None,
    ) -> PairScores:
        """vLLM ``/score``: ``queries`` of length 1 (1:N) or ``len(documents)`` (N:N)."""
        self._require_single_score()
        if not queries or not documents:
            raise ValueError("score needs at least one query and one document")
        if len(queries) == 1:
            queries = queries * len(documents)
        elif len(queries) != len(documents):
            raise ValueError(
                f"got {len(queries)} queries and {len(documents)} documents: give one query (1:N) "
                "or as many queries as documents (N:N)"
            )
        keep = resolve_truncation(truncate_prompt_tokens, self.model_config.context_length)
        groups: dict[str, list[int]] = {}  # query -> pair indices: one request (MIS pass) per query
        for i, q in enumerate(queries):
            groups.setdefault(q, []).append(i)
        outs = await asyncio.gather(*(
            self._score_group(q, [documents[i] for i in idx], None, keep, instruction, use_activation)
            for q, idx in groups.items()
        ))
        scores = [0.0] * len(documents)
        for idx, (group_scores, _) in zip(groups.values(), outs):
            for i, s in zip(idx, group_scores):
                scores[i] = s
        return PairScores(scores, sum(tokens for _, tokens in outs))

    async def rerank(
        self, query: str, documents: list[str], top_n: Optional[int] = None, max_tokens_per_doc: Optional[int] = None,
        return_documents: bool = True, use_activation: Optional[bool] = None, instruction: Optional[str] = None,
    ) -> RerankOutput:
        self._require_single_score()
        if not isinstance(query, str):
            raise ValueError("'query' must be a string")
        if not documents:
            raise ValueError("'documents' must not be empty")
        if top_n is not None and top_n < 0:
            raise ValueError("'top_n' must be a non-negative integer")
        if max_tokens_per_doc is not None and max_tokens_per_doc < 1:
            raise ValueError("'max_tokens_per_doc' must be a positive integer")
        scores, tokens = await self._score_group(query, documents, max_tokens_per_doc, None, instruction, use_activation)
        order = sorted(range(len(documents)), key=lambda i: -scores[i])  # stable: ties keep input order
        if top_n:
            order = order[:top_n]
        results = [RerankResult(i, scores[i], documents[i] if return_documents else None) for i in order]
        return RerankOutput(results, tokens)

    def _require_single_score(self) -> None:
        cfg = self.model_config
        if cfg.is_causal_lm:
            raise ValueError(f"rerank and score need a classification model with one label, not a CausalLM; {_CONVERT_HINT}")
        if cfg.num_labels != 1:
            raise ValueError(
                f"rerank and score need a model with one label, and this one has num_labels={cfg.num_labels}; "
                f"{_CONVERT_HINT}"
            )

    async def _score_group(
        self, query: str, documents: list[str], max_doc_tokens: Optional[int], keep: Optional[int],
        instruction: Optional[str], use_activation: Optional[bool],
    ) -> tuple[list[float], int]:
        query_ids, items_ids = self.pair_ids(query, documents, max_doc_tokens, keep, instruction)
        out = await self.tm.score_ids(query_ids, items_ids)
        kind = activation_of(self.model_config.hf_config) if use_activation is not False else None
        logits = np.asarray(out.scores, dtype=np.float32).reshape(len(documents), 1)
        return activate(logits, kind)[:, 0].tolist(), out.prompt_tokens

    def pair_ids(
        self, query: str, documents: list[str], max_doc_tokens: Optional[int] = None, keep: Optional[int] = None,
        instruction: Optional[str] = None,
    ) -> tuple[list[int], list[list[int]]]:
        """(query, documents) -> (query_ids, items_ids) with ``query_ids + items_ids[i]`` the prompt of pair i.

        Without a template: the query with special tokens, each document without (as /v1/score).
        With one: the head of the rendered prompt is the query, ``document + tail`` each item.
        The document alone is cut to ``max_doc_tokens``, and so that a pair fits ``keep`` tokens.
        """
        for i, d in enumerate(documents):
            if not isinstance(d, str):
                raise ValueError(f"document {i} must be a string")
        tokenizer = self.tm.tokenizer
        lead, tail_ids = "", []
        if self.template is None:
            query_ids = tokenizer(query)["input_ids"]
        else:
            head, tail = self.template.split(query, instruction)
            # BPE tokenizers attach a space to the word after it: give the head's trailing spaces to
            # the document, so "<Document>: text" tokenizes as it would in one piece.
            stripped = head.rstrip(" ")
            lead, head = head[len(stripped):], stripped
            query_ids = tokenizer(head)["input_ids"]
            tail_ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
        docs_ids = tokenizer([lead + d for d in documents], add_special_tokens=False)["input_ids"]
        cap = max_doc_tokens
        if keep is not None:
            room = keep - len(query_ids) - len(tail_ids)
            if room < 1:
                raise ValueError(
                    f"the query takes {len(query_ids) + len(tail_ids)} tokens, leaving no room for a document "
                    f"within truncate_prompt_tokens={keep}"
                )
            cap = room if cap is None else min(cap, room)
        return query_ids, [ids[:cap] + tail_ids for ids in docs_ids]
