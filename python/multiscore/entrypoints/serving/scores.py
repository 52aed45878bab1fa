"""What SGLang's /v1/score, vLLM's /score and the rerank APIs (Jina, Cohere, vLLM) mean, on top of
the scorer picked for the served model (scorers.py)."""

from __future__ import annotations

import asyncio
from typing import Optional

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind, Task
from multiscore.entrypoints.serving.results import PairScores, RerankOutput, RerankResult, ScoreResult
from multiscore.entrypoints.serving.scorers import EmbedOverrideInputs, Scorer
from multiscore.entrypoints.serving.tasks import CONVERT_HINT, refusal, require_task
from multiscore.tokenizer.inputs import resolve_truncation


class ScoreServing:
    def __init__(self, scorer: Scorer, model_config: ModelConfig) -> None:
        self.scorer = scorer
        self.model_config = model_config

    async def score(
        self, query, items, *, label_token_ids: Optional[list[int]] = None, apply_softmax: bool = False,
        item_first: bool = False, embed_override_token_id: Optional[int] = None, query_embed_overrides=None,
        item_embed_overrides=None, return_pooled_hidden_states: bool = False, priority: int = 0,
    ) -> ScoreResult:
        """SGLang's /v1/score, DESIGN.md §3, on every kind of model: label probabilities (CausalLM),
        head scores (classifiers: decoders in one MIS pass, encoders per text pair), or the cosine
        similarity of embeddings. ``*_embed_overrides``: vectors replacing the input embedding of
        each ``embed_override_token_id`` in the query / each item (decoders)."""
        if self.model_config.kind.classifies_tokens:  # a score per token, none per item
            raise ValueError(refusal(self.model_config, Task.CLASSIFY))
        return await self.scorer.score(
            query, items, label_token_ids=label_token_ids, apply_softmax=apply_softmax, item_first=item_first,
            embed_overrides=EmbedOverrideInputs.given(embed_override_token_id, query_embed_overrides, item_embed_overrides),
            return_pooled_hidden_states=return_pooled_hidden_states, priority=priority,
        )

    async def score_pairs(
        self, queries: list[str], documents: list[str], *, use_activation: Optional[bool] = None,
        truncate_prompt_tokens: Optional[int] = None, instruction: Optional[str] = None,
        chat_template_kwargs: Optional[dict] = None, max_tokens_per_doc: Optional[int] = None,
        label_token_ids: Optional[list[int]] = None, apply_softmax: Optional[bool] = None,
    ) -> PairScores:
        """vLLM ``/score``: ``queries`` of length 1 (1:N) or ``len(documents)`` (N:N). On a CausalLM,
        vLLM's generative scores: a pair's score is the next-token probability of the first of
        ``label_token_ids`` after query + document, softmaxed over those tokens unless
        ``apply_softmax`` is false (one MIS pass per query on an MIS server)."""
        groups = _query_groups(queries, documents)  # query -> pair indices: one request (MIS pass) per query
        if self.model_config.kind is ModelKind.CAUSAL_LM:
            if label_token_ids is None:
                raise ValueError("vLLM's /score on a CausalLM scores each pair by next-token probabilities: give "
                                 f"'label_token_ids' (the first one's probability is the score), or {CONVERT_HINT}")
            outs = await asyncio.gather(*(
                self.scorer.score(q, [documents[i] for i in idx], label_token_ids=label_token_ids,
                                  apply_softmax=apply_softmax is not False)
                for q, idx in groups.items()
            ))
            per_group = [([row[0] for row in out.scores], []) for out in outs]
        else:
            require_task(self.model_config, Task.SCORE)
            keep = resolve_truncation(truncate_prompt_tokens, self.model_config.context_length)
            outs = await asyncio.gather(*(
                self.scorer.score_documents(
                    q, [documents[i] for i in idx], keep=keep, use_activation=use_activation,
                    template_vars=_template_vars(instruction, chat_template_kwargs),
                    max_doc_tokens=max_tokens_per_doc or None,
                )
                for q, idx in groups.items()
            ))
            per_group = [(out.scores, out.token_ids) for out in outs]
        scores, token_ids = [0.0] * len(documents), [[] for _ in documents]
        for idx, (group_scores, group_ids) in zip(groups.values(), per_group):
            for k, i in enumerate(idx):
                scores[i] = group_scores[k]
                if group_ids:
                    token_ids[i] = group_ids[k]
        return PairScores(scores, sum(out.prompt_tokens for out in outs), token_ids)

    async def rerank(
        self, query: str, documents: list[str], *, top_n: Optional[int] = None,
        max_tokens_per_doc: Optional[int] = None, return_documents: bool = True,
        use_activation: Optional[bool] = None, instruction: Optional[str] = None,
        truncate_prompt_tokens: Optional[int] = None, chat_template_kwargs: Optional[dict] = None,
        rule: str = "score",
    ) -> RerankOutput:
        """Documents by relevance, highest first (Jina / Cohere / vLLM rerank; TEI's with ``rule``
        ``default``: see scorers.relevance_activation)."""
        require_task(self.model_config, Task.SCORE)
        if not isinstance(query, str):
            raise ValueError("'query' must be a string")
        if not documents:
            raise ValueError("'documents' must not be empty")
        if top_n is not None and top_n < 0:
            raise ValueError("'top_n' must be a non-negative integer")
        if max_tokens_per_doc is not None and max_tokens_per_doc < 0:
            raise ValueError("max_tokens_per_doc must be a non-negative integer")
        if max_tokens_per_doc == 0:  # vLLM: no limit
            max_tokens_per_doc = None
        keep = resolve_truncation(truncate_prompt_tokens, self.model_config.context_length)
        out = await self.scorer.score_documents(
            query, documents, max_doc_tokens=max_tokens_per_doc, keep=keep,
            template_vars=_template_vars(instruction, chat_template_kwargs), use_activation=use_activation, rule=rule,
        )
        order = sorted(range(len(documents)), key=lambda i: -out.scores[i])  # stable: ties keep input order
        if top_n:
            order = order[:top_n]
        results = [RerankResult(i, out.scores[i], documents[i] if return_documents else None) for i in order]
        return RerankOutput(results, out.prompt_tokens)


def _query_groups(queries: list[str], documents: list[str]) -> dict[str, list[int]]:
    """vLLM's pairings (1:1, 1:N, N:N) -> each distinct query's document indices."""
    if not queries:
        raise ValueError("At least one text element must be given: score needs at least one query and one document")
    if not documents:
        raise ValueError("At least one text_pair element must be given: score needs at least one query and one document")
    if len(queries) == 1:
        queries = queries * len(documents)
    elif len(queries) != len(documents):
        raise ValueError(
            f"Input lengths must be either 1:1, 1:N or N:N: got {len(queries)} queries and {len(documents)} "
            "documents; give one query (1:N) or as many queries as documents (N:N)"
        )
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault(q, []).append(i)
    return groups


def _template_vars(instruction: Optional[str], chat_template_kwargs: Optional[dict]) -> dict:
    """vLLM folds the request's ``instruction`` into the score template's ``chat_template_kwargs``."""
    return {**(chat_template_kwargs or {}), **({} if instruction is None else {"instruction": instruction})}
