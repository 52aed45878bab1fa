"""Classify, embed, pair scoring and rerank (the vLLM / OpenAI / Cohere / Jina APIs) on top of
TokenizerManager.

Every call here becomes ``TokenizerManager.score_ids`` requests:
- classify and embed: each input is its own sequence (``pack=False``); classify applies the
  config's activation to the logits, embed returns the model's pooled vectors;
- pair scores and rerank, by model kind:
  - decoder classifier (cross-encoder): the pairs sharing a query are one request (one MIS pass
    when the server has a delimiter), the single logit -> sigmoid;
  - encoder classifier (BERT / XLM-R cross-encoder): one sequence per (query, document) pair with
    token types; bidirectional attention lets the query see the document, so MIS cannot apply;
  - embedding model (bi-encoder): cosine similarity of the query's and documents' embeddings.
"""

from __future__ import annotations

import asyncio
from typing import Optional

import numpy as np

from multiscore.tokenizer.pair_tokenizer import PairTokenizer
from multiscore.tokenizer.inputs import classify_inputs, is_token_list
from multiscore.entrypoints.serving.results import (
    Classification,
    ClassifyResult,
    EmbedResult,
    PairScores,
    RerankOutput,
    RerankResult,
    activate,
    activation_of,
    l2_normalize,
    resolve_truncation,
    score_matrix,
)
from multiscore.tokenizer.score_template import ScoreTemplate
from multiscore.tokenizer.tokenizer_manager import ScoreResult, TokenizerManager

_CONVERT_HINT = (
    "serve a reranker with one label, or convert a causal LM with --json-model-override-args "
    '\'{"classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"}\''
)


class ScoreService:
    def __init__(self, tm: TokenizerManager) -> None:
        self.tm = tm
        self.model_config = tm.model_config
        name = tm.server_args.score_template
        if name is None and self.model_config.is_original_qwen3_reranker:
            name = "qwen3_reranker"
        self.template: Optional[ScoreTemplate] = ScoreTemplate.load(name) if name else None
        self.pairs = PairTokenizer(tm.tokenizer, self.template)

    # ---- /v1/score (SGLang semantics) ---------------------------------------------------------

    async def score(
        self, query, items, label_token_ids: Optional[list[int]] = None, apply_softmax: bool = False,
        item_first: bool = False,
    ) -> ScoreResult:
        """DESIGN.md §3 on decoders. Encoder classifiers score each (query, item) text pair with the
        tokenizer's pair encoding; embedding models give the cosine similarity per item."""
        cfg = self.model_config
        if not (cfg.is_encoder or cfg.is_embedding):
            return await self.tm.score(query, items, label_token_ids, apply_softmax, item_first)
        kind, items = classify_inputs(query, items)
        if not items:
            return ScoreResult(scores=[], prompt_tokens=0)
        if cfg.is_embedding:
            if kind == "tokens":
                texts_ids = [list(query)] + [list(it) for it in items]
            else:
                texts_ids = self.pairs.texts([query] + items)
            cosines, tokens = await self._cosines(texts_ids)
            return ScoreResult(scores=[[c] for c in cosines], prompt_tokens=tokens)
        if kind == "tokens":  # ids as given; the item is the second segment where the model has two
            second = 1 if getattr(cfg.hf_config, "type_vocab_size", 1) > 1 else 0
            ids = [list(query) + list(it) for it in items]
            types = [[0] * len(query) + [second] * len(it) for it in items]
        else:
            queries = [query] * len(items)
            ids, types = self.pairs.encode_pairs(items, queries) if item_first else self.pairs.encode_pairs(queries, items)
        out = await self.tm.score_ids([], ids, pack=False, items_token_type_ids=types)
        scores = score_matrix(out.scores, len(ids))
        if apply_softmax:
            scores = activate(scores, "softmax")
        return ScoreResult(scores=scores.tolist(), prompt_tokens=out.prompt_tokens)

    # ---- classify and embed -------------------------------------------------------------------

    async def classify(
        self, inputs, use_activation: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
        add_special_tokens: bool = True,
    ) -> ClassifyResult:
        cfg = self.model_config
        if cfg.is_causal_lm:
            raise ValueError(f"classify needs a classification model, and this one is a CausalLM; {_CONVERT_HINT}")
        if cfg.is_embedding:
            raise ValueError("classify needs a classification model, and this one is an embedding model: use /v1/embeddings")
        ids = self._input_ids(inputs, add_special_tokens, truncate_prompt_tokens, "classify")
        out = await self.tm.score_ids([], ids, pack=False)
        kind = activation_of(cfg.hf_config) if use_activation is not False else None
        probs = activate(score_matrix(out.scores, len(ids)), kind)
        data = [
            Classification(i, cfg.label_name(int(row.argmax())), row.tolist(), int(row.shape[0]))
            for i, row in enumerate(probs)
        ]
        return ClassifyResult(data, out.prompt_tokens)

    async def embed(
        self, inputs, dimensions: Optional[int] = None, truncate_prompt_tokens: Optional[int] = None,
        add_special_tokens: bool = True,
    ) -> EmbedResult:
        """One pooled vector per input; ``dimensions`` cuts a Matryoshka embedding and renormalises it."""
        cfg = self.model_config
        if not cfg.is_embedding:
            raise ValueError(
                f"this model ({cfg.architecture}) has no embedding output: serve an embedding model "
                "(BertModel, XLMRobertaModel, Qwen3Model ..., or a causal checkpoint with "
                '--json-model-override-args \'{"architectures": ["Qwen3Model"]}\')'
            )
        if dimensions is not None:
            self._check_dimensions(dimensions)
        ids = self._input_ids(inputs, add_special_tokens, truncate_prompt_tokens, "embed")
        out = await self.tm.score_ids([], ids, pack=False)
        vectors = score_matrix(out.scores, len(ids))
        if dimensions is not None and dimensions < vectors.shape[1]:
            vectors = vectors[:, :dimensions]
            if cfg.pooling.normalize:
                vectors = l2_normalize(vectors)
        return EmbedResult(vectors.tolist(), out.prompt_tokens)

    def _check_dimensions(self, dimensions: int) -> None:
        allowed = self.model_config.matryoshka_dimensions
        hidden = self.model_config.hf_config.hidden_size
        if allowed is None:
            raise ValueError(f"this model does not support 'dimensions' (it is not a Matryoshka model); its embeddings have {hidden}")
        if dimensions < 1 or dimensions > hidden or (allowed and dimensions not in allowed):
            choices = ", ".join(map(str, allowed)) if allowed else f"1 to {hidden}"
            raise ValueError(f"'dimensions' must be one of {choices}, got {dimensions}")

    def _input_ids(self, inputs, add_special_tokens: bool, truncate_prompt_tokens: Optional[int], what: str):
        """vLLM's input forms -> token ids per input, truncated to the last k tokens when asked."""
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            raise ValueError("'input' must be a non-empty string, list of strings, or token ids")
        if all(isinstance(x, str) for x in inputs):
            ids = self.tm.tokenizer(inputs, add_special_tokens=add_special_tokens)["input_ids"]
        elif is_token_list(inputs):
            ids = [list(inputs)]
        elif all(is_token_list(x) for x in inputs):
            ids = [list(x) for x in inputs]
        else:
            raise ValueError("'input' must be a string, a list of strings, a list of token ids or a list of such lists")
        keep = resolve_truncation(truncate_prompt_tokens, self.model_config.context_length)
        if keep is not None:
            ids = [x[-keep:] for x in ids]  # vLLM keeps the last k tokens
        for i, x in enumerate(ids):
            if not x:
                raise ValueError(f"input {i} is empty: there is no token to {what}")
        return ids

    # ---- pair scores and rerank -----------------------------------------------------------------

    async def score_pairs(
        self, queries: list[str], documents: list[str], use_activation: Optional[bool] = None,
        truncate_prompt_tokens: Optional[int] = None, instruction: Optional[str] = None,
    ) -> PairScores:
        """vLLM ``/score``: ``queries`` of length 1 (1:N) or ``len(documents)`` (N:N)."""
        self._require_pair_scorer()
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
        self._require_pair_scorer()
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

    def _require_pair_scorer(self) -> None:
        cfg = self.model_config
        if cfg.is_embedding:
            return  # bi-encoder: cosine similarity
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
        """Scores of (query, document) pairs sharing one query, and the tokens forwarded."""
        cfg = self.model_config
        if cfg.is_embedding:
            query_ids = self.pairs.texts([query], max_tokens=keep)
            return await self._cosines(query_ids + self.pairs.texts(documents, max_tokens=max_doc_tokens or keep))
        if cfg.is_encoder:
            ids, types = self.pairs.encoder_pairs(query, documents, max_doc_tokens, keep)
            out = await self.tm.score_ids([], ids, pack=False, items_token_type_ids=types)
        else:
            query_ids, items_ids = self.pairs.decoder_pairs(query, documents, max_doc_tokens, keep, instruction)
            out = await self.tm.score_ids(query_ids, items_ids)
        kind = activation_of(cfg.hf_config) if use_activation is not False else None
        logits = score_matrix(out.scores, len(documents))
        return activate(logits, kind)[:, 0].tolist(), out.prompt_tokens

    async def _cosines(self, texts_ids: list[list[int]]) -> tuple[list[float], int]:
        """texts_ids[0] is the query: cosine similarity of its embedding with each of the others."""
        for i, x in enumerate(texts_ids):
            if not x:
                raise ValueError(f"{'the query' if i == 0 else f'document {i - 1}'} is empty: there is nothing to embed")
        out = await self.tm.score_ids([], texts_ids, pack=False)
        vectors = l2_normalize(score_matrix(out.scores, len(texts_ids), np.float64))
        return (vectors[1:] @ vectors[0]).tolist(), out.prompt_tokens
