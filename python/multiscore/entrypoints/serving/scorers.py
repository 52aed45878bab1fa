"""How a query is scored against items on the served model: one scorer per kind of model, picked
once at start-up (``pick_scorer``) and used by SGLang's /v1/score, vLLM's /score and rerank.

- ``DecoderPairScorer``: a decoder (CausalLM or classifier) reads ``query + item`` per item;
- ``MisScorer``: the same decoder, with the items packed ``query D item_1 D ... D`` into one pass;
- ``EncoderPairScorer``: a BERT-style cross-encoder reads each pair as one sequence with token
  types (bidirectional attention lets the query see the document, so MIS cannot apply);
- ``BiEncoderScorer``: an embedding model embeds the query and each item; the score is their cosine;
- ``LateInteractionScorer``: a ColBERT model encodes the query to a vector per token, then each item
  is encoded and scored against those vectors by MaxSim in the model process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind, Task
from multiscore.entrypoints.serving.results import DocumentScores, ScoreResult
from multiscore.entrypoints.serving.tasks import require_task
from multiscore.messages import PoolingParams, RequestOutput
from multiscore.tokenizer.embed_overrides import build_embed_overrides
from multiscore.tokenizer.inputs import check_label_token_ids, text_or_token_ids
from multiscore.tokenizer.late_interaction import LateInteractionInputs
from multiscore.tokenizer.pair_tokenizer import PairTokenizer, check_documents
from multiscore.tokenizer.tokenizer_manager import TokenizerManager


@dataclass
class EmbedOverrideInputs:
    """A request's SGLang embedding overrides, as given (validated by build_embed_overrides)."""

    token_id: Optional[int]
    query: Optional[list]  # vectors for the query's placeholders
    items: Optional[list]  # per item: vectors, or None

    @classmethod
    def given(cls, token_id, query, items) -> Optional["EmbedOverrideInputs"]:
        return None if query is None and items is None else cls(token_id, query, items)


def relevance_activation(use_activation: Optional[bool], rule: str = "score") -> str:
    """``use_activation`` on a relevance score: raw logits when false, else ``rule``: ``score``
    (vLLM: the cross-encoder activation the checkpoint names, layers/score_activation.py) or
    ``default`` (TEI: the classifier's rule, whatever sentence-transformers wrote)."""
    return "none" if use_activation is False else rule


class Scorer:
    def __init__(self, tm: TokenizerManager, pairs: PairTokenizer, model_config: ModelConfig) -> None:
        self.tm = tm
        self.pairs = pairs
        self.model_config = model_config

    async def score(
        self, query, items, *, label_token_ids: Optional[list[int]] = None, apply_softmax: bool = False,
        item_first: bool = False, embed_overrides: Optional[EmbedOverrideInputs] = None,
        return_pooled_hidden_states: bool = False, priority: int = 0,
    ) -> ScoreResult:
        """SGLang's /v1/score (DESIGN.md §3): a score row per item (and, on request, the hidden
        state each item's row was read from: decoder classifiers only). ``priority``: SGLang's,
        higher runs first."""
        raise NotImplementedError

    async def score_documents(
        self, query: str, documents: list[str], *, max_doc_tokens: Optional[int] = None, keep: Optional[int] = None,
        template_vars: Optional[dict] = None, use_activation: Optional[bool] = None, rule: str = "score",
    ) -> DocumentScores:
        """One relevance score per (query, document) pair, the tokens forwarded and each pair's tokens
        (rerank, vLLM /score). ``max_doc_tokens`` caps each document, ``keep`` each whole pair; ``template_vars``
        go to the score template; ``rule``: see ``relevance_activation``."""
        raise NotImplementedError

    def _own_inputs(self, query, items, embed_overrides, return_pooled_hidden_states) -> tuple[str, list]:
        """Encoders and bi-encoders tokenize pairs their own way: refuse the decoder-only options;
        -> ("text" | "tokens", items)."""
        if embed_overrides is not None:
            raise ValueError("embedding overrides need a decoder model (a CausalLM or a decoder classifier)")
        if return_pooled_hidden_states:
            raise ValueError(
                f"return_pooled_hidden_states is not supported for {self.model_config.architecture}: only a decoder "
                "classifier's head reads one pooled hidden state per item"
            )
        return text_or_token_ids(query, items)

    def _relevance(self, use_activation: Optional[bool], rule: str) -> str:
        """The activation of a relevance score: the request's use_activation, else --pooler-config's."""
        return relevance_activation(self.model_config.pooler.use_activation_for(use_activation), rule)

    async def _run(self, query_ids, items_ids, pooling: PoolingParams, **options) -> RequestOutput:
        return await self.tm.run_request(self.tm.build_request(query_ids, items_ids, pooling, **options))


class DecoderPairScorer(Scorer):
    mis = False

    async def score(self, query, items, *, label_token_ids=None, apply_softmax=False, item_first=False,
                    embed_overrides=None, return_pooled_hidden_states=False, priority=0) -> ScoreResult:
        if return_pooled_hidden_states and self.model_config.kind is ModelKind.CAUSAL_LM:
            raise ValueError(
                "return_pooled_hidden_states is not supported for CausalLM models: it needs a model with a "
                "task-specific head (a SequenceClassification model)"
            )
        # item_first does not apply under MIS: the packed layout is fixed (DESIGN.md §4).
        item_first = item_first and not self.mis
        if item_first and embed_overrides is not None:
            raise ValueError("item_first is not supported with embedding overrides")
        query_ids, items_ids = await self.tm.tokenize_query_items(query, items, item_first=item_first)
        cfg = self.model_config
        labels = None
        if cfg.kind is ModelKind.CAUSAL_LM:
            labels = check_label_token_ids(label_token_ids, cfg.label_vocab_size, causal_lm=True)
        overrides = None
        if embed_overrides is not None:
            from multiscore.models.registry import get_model_class

            problem = getattr(get_model_class(cfg.architecture), "embed_overrides_problem", None)
            if problem is not None:
                raise ValueError(f"embedding overrides are not supported for {cfg.architecture}: {problem}")
            overrides = build_embed_overrides(
                embed_overrides.token_id, query_ids, items_ids, embed_overrides.query, embed_overrides.items,
                hidden_size=cfg.hf_config.hidden_size, vocab_size=cfg.vocab_size,
            )
        pooling = PoolingParams(label_token_ids=labels, activation="softmax" if apply_softmax else "none",
                                return_hidden=return_pooled_hidden_states)
        out = await self._run(query_ids, items_ids, pooling, mis=self.mis, item_first=item_first, embed_overrides=overrides,
                              priority=priority)
        return self._score_result(out, return_pooled_hidden_states)

    def _score_result(self, out: RequestOutput, with_hidden: bool) -> ScoreResult:
        if not with_hidden:
            return ScoreResult(out.outputs, out.prompt_tokens)
        classes = self.model_config.num_labels  # each row: the class scores, then the hidden state they came from
        return ScoreResult([row[:classes] for row in out.outputs], out.prompt_tokens,
                           pooled_hidden_states=[row[classes:] for row in out.outputs])

    async def score_documents(self, query, documents, *, max_doc_tokens=None, keep=None, template_vars=None,
                              use_activation=None, rule="score"):
        query_ids, items_ids = self.pairs.decoder_pairs(
            query, documents, max_doc_tokens=max_doc_tokens, keep=keep, template_vars=template_vars
        )
        pooling = PoolingParams(activation=self._relevance(use_activation, rule))
        out = await self._run(query_ids, items_ids, pooling, mis=self.mis)
        return DocumentScores([row[0] for row in out.outputs], out.prompt_tokens, [query_ids + d for d in items_ids])


class MisScorer(DecoderPairScorer):
    mis = True


class CompressedPairScorer(DecoderPairScorer):
    """A decoder that compresses each pair's passage between layers (models/token_compression.py): the
    items carry token types, passage (1) and the prompt after it (2); the query apart is FlagEmbedding's
    query part (<bos>, "A: " + query, the newline) under a template, else the request's query."""

    async def score(self, query, items, *, label_token_ids=None, apply_softmax=False, item_first=False,
                    embed_overrides=None, return_pooled_hidden_states=False, priority=0) -> ScoreResult:
        if item_first or embed_overrides is not None:
            raise ValueError("item_first and embedding overrides are not supported with token compression")
        query_ids, items_ids = await self.tm.tokenize_query_items(query, items)
        pooling = PoolingParams(activation="softmax" if apply_softmax else "none",
                                return_hidden=return_pooled_hidden_states)
        out = await self._run(query_ids, items_ids, pooling, mis=self.mis, priority=priority,
                              items_token_type_ids=[[1] * len(it) for it in items_ids])  # each item is a passage
        return self._score_result(out, return_pooled_hidden_states)

    async def score_documents(self, query, documents, *, max_doc_tokens=None, keep=None, template_vars=None,
                              use_activation=None, rule="score"):
        query_ids, items_ids, types = self.pairs.segmented_pairs(query, documents, max_doc_tokens=max_doc_tokens,
                                                                 keep=keep, template_vars=template_vars)
        out = await self._run(query_ids, items_ids, PoolingParams(activation=self._relevance(use_activation, rule)),
                              mis=self.mis, items_token_type_ids=types)
        return DocumentScores([row[0] for row in out.outputs], out.prompt_tokens, [query_ids + it for it in items_ids])


class CompressedMisScorer(CompressedPairScorer):
    mis = True


class EncoderPairScorer(Scorer):
    async def score(self, query, items, *, label_token_ids=None, apply_softmax=False, item_first=False,
                    embed_overrides=None, return_pooled_hidden_states=False, priority=0) -> ScoreResult:
        kind, items = self._own_inputs(query, items, embed_overrides, return_pooled_hidden_states)
        if not items:
            return ScoreResult(scores=[], prompt_tokens=0)
        if kind == "tokens":  # ids as given; the item is the second segment where the model has two
            second = 1 if getattr(self.model_config.hf_config, "type_vocab_size", 1) > 1 else 0
            ids = [list(query) + list(it) for it in items]
            types = [[0] * len(query) + [second] * len(it) for it in items]
        else:
            queries = [query] * len(items)
            ids, types = self.pairs.encode_pairs(items, queries) if item_first else self.pairs.encode_pairs(queries, items)
        out = await self._run([], ids, PoolingParams(activation="softmax" if apply_softmax else "none"),
                              items_token_type_ids=types, priority=priority)
        return ScoreResult(out.outputs, out.prompt_tokens)

    async def score_documents(self, query, documents, *, max_doc_tokens=None, keep=None, template_vars=None,
                              use_activation=None, rule="score"):
        if self.pairs.template is not None:  # vLLM renders any cross-encoder's pairs with its score template
            ids = self.pairs.templated_pairs(query, documents, max_doc_tokens=max_doc_tokens, keep=keep,
                                             template_vars=template_vars)
            types = [[0] * len(x) for x in ids]
        else:
            ids, types = self.pairs.encoder_pairs(query, documents, max_doc_tokens=max_doc_tokens, keep=keep)
        out = await self._run([], ids, PoolingParams(activation=self._relevance(use_activation, rule)),
                              items_token_type_ids=types)
        return DocumentScores([row[0] for row in out.outputs], out.prompt_tokens, ids)


class BiEncoderScorer(Scorer):
    async def score(self, query, items, *, label_token_ids=None, apply_softmax=False, item_first=False,
                    embed_overrides=None, return_pooled_hidden_states=False, priority=0) -> ScoreResult:
        require_task(self.model_config, Task.SCORE)  # a SPLADE model's relevance is not a cosine
        kind, items = self._own_inputs(query, items, embed_overrides, return_pooled_hidden_states)
        if not items:
            return ScoreResult(scores=[], prompt_tokens=0)
        if kind == "tokens":
            texts_ids = [list(query)] + [list(it) for it in items]
        else:
            texts_ids = self.pairs.texts([query] + items)
        cosines, tokens = await self._cosines(texts_ids, priority)
        return ScoreResult(scores=[[c] for c in cosines], prompt_tokens=tokens)

    async def score_documents(self, query, documents, *, max_doc_tokens=None, keep=None, template_vars=None,
                              use_activation=None, rule="score"):
        if use_activation is True:
            raise ValueError("'use_activation' applies to a cross-encoder's scores; an embedding model's score is "
                             "the cosine similarity of the embeddings, with no activation to apply")
        query_ids = self.pairs.texts([query], max_tokens=keep)
        docs = self.pairs.texts(documents, max_tokens=max_doc_tokens or keep)
        return DocumentScores(*await self._cosines(query_ids + docs), [query_ids[0] + d for d in docs])

    async def _cosines(self, texts_ids: list[list[int]], priority: int = 0) -> tuple[list[float], int]:
        """texts_ids[0] is the query: cosine similarity of its embedding with each of the others."""
        for i, x in enumerate(texts_ids):
            if not x:
                raise ValueError(f"{'the query' if i == 0 else f'document {i - 1}'} is empty: there is nothing to embed")
        out = await self._run([], texts_ids, PoolingParams(activation="default"), priority=priority)
        vectors = np.asarray(out.outputs, dtype=np.float64)  # [1 + N, H]
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return (vectors[1:] @ vectors[0]).tolist(), out.prompt_tokens


class LateInteractionScorer(Scorer):
    """Two passes per query: its token vectors [Lq, D] (a token task), then its items, each scored by
    MaxSim against them in the model process. Text is tokenized as --colbert-style says
    (tokenizer/late_interaction.py); token ids are used as given."""

    def __init__(self, tm: TokenizerManager, pairs: PairTokenizer, model_config: ModelConfig) -> None:
        super().__init__(tm, pairs, model_config)
        self.inputs = self._inputs_for(tm.tokenizer)
        self._thread_inputs: Optional[LateInteractionInputs] = None  # the tokenizer thread's, made there

    def _inputs_for(self, tokenizer) -> LateInteractionInputs:
        return LateInteractionInputs(tokenizer, self.model_config.pooling.late_interaction, self.tm.server_args.colbert_style,
                                     self.model_config.context_length)

    async def _documents(self, documents: list[str], max_doc_tokens=None, keep=None) -> list[list[int]]:
        """Many documents are tokenized on the tokenizer thread, with its own tokenizer."""
        def tokenize(tokenizer) -> list[list[int]]:
            inputs = self.inputs
            if tokenizer is not self.tm.tokenizer:
                if self._thread_inputs is None:
                    self._thread_inputs = self._inputs_for(tokenizer)
                inputs = self._thread_inputs
            return inputs.documents(documents, max_doc_tokens, keep)

        return await self.tm.tokenize_with(documents, tokenize)

    async def score(self, query, items, *, label_token_ids=None, apply_softmax=False, item_first=False,
                    embed_overrides=None, return_pooled_hidden_states=False, priority=0) -> ScoreResult:
        kind, items = self._own_inputs(query, items, embed_overrides, return_pooled_hidden_states)
        if not items:
            return ScoreResult(scores=[], prompt_tokens=0)
        if kind == "tokens":
            query_ids, key_len, docs = list(query), None, [list(it) for it in items]
        else:
            (query_ids,), (key_len,) = self.inputs.queries([query])
            docs = await self._documents(items)
        scores, tokens = await self._maxsim(query_ids, key_len, docs, priority)
        return ScoreResult(scores=[[s] for s in scores], prompt_tokens=tokens)

    async def score_documents(self, query, documents, *, max_doc_tokens=None, keep=None, template_vars=None,
                              use_activation=None, rule="score"):
        if use_activation is True:
            raise ValueError("'use_activation' applies to a cross-encoder's scores; a ColBERT model's score is MaxSim "
                             "over token vectors, with no activation to apply")
        check_documents([query] + documents)
        (query_ids,), (key_len,) = self.inputs.queries([query], keep)
        docs = await self._documents(documents, max_doc_tokens, keep)
        return DocumentScores(*await self._maxsim(query_ids, key_len, docs), [query_ids + d for d in docs])

    async def encode(self, texts: list[str], input_type: str, *, keep: Optional[int] = None,
                     normalise: bool = True) -> tuple[list, int, list[list[int]]]:
        """Per text its token vectors as pylate's ``encode(texts, is_query=...)`` gives them for an
        index: a query's every token (its marker and [MASK] expansion included), a document's
        without its skiplist tokens (punctuation). -> (vectors [L, D] per text, tokens forwarded, ids)."""
        if self.inputs.config is None:
            raise ValueError("input_type tokenizes a text as the checkpoint's ColBERT files say (markers, query "
                             "expansion), which --colbert-style vllm turns off")
        for i, text in enumerate(texts):
            if not text:
                raise ValueError(f"input {i} is empty: there is nothing to encode")
        pooling = PoolingParams(activation="default" if normalise else "none", per_token=True)
        if input_type == "query":
            ids, key_lens = self.inputs.queries(texts, keep)
            out = await self._run([], ids, pooling, items_key_lens=key_lens)
            return out.outputs, out.prompt_tokens, ids
        docs = await self._documents(texts, keep=keep)
        out = await self._run([], docs, pooling)
        skip = set(self.inputs.skip_token_ids)
        kept = [[row for row, token in zip(rows, ids) if token not in skip] for rows, ids in zip(out.outputs, docs)]
        return kept, out.prompt_tokens, docs

    async def _maxsim(self, query_ids: list[int], key_len, docs: list[list[int]], priority: int = 0) -> tuple[list[float], int]:
        for i, x in enumerate([query_ids] + docs):
            if not x:
                raise ValueError(f"{'the query' if i == 0 else f'item {i - 1}'} is empty: there is nothing to encode")
        first = await self._run([], [query_ids], PoolingParams(activation="default", per_token=True),
                                items_key_lens=[key_len], priority=priority)
        query = np.asarray(first.outputs[0], dtype=np.float32)  # [Lq, D], normalised
        pooling = PoolingParams(maxsim_query=query, skip_token_ids=self.inputs.skip_token_ids)
        out = await self._run([], docs, pooling, priority=priority)
        config = self.inputs.config  # None: --colbert-style vllm
        scale = 1.0 / len(query) if config is not None and config.mean_over_query else 1.0  # meanmaxsim
        return [row[0] * scale for row in out.outputs], first.prompt_tokens + out.prompt_tokens


def pick_scorer(tm: TokenizerManager, pairs: PairTokenizer, model_config: ModelConfig, mis: bool) -> Scorer:
    kind = model_config.kind
    if kind is ModelKind.LISTWISE_RERANKER:
        from multiscore.entrypoints.serving.listwise import ListwiseScorer

        return ListwiseScorer(tm, pairs, model_config)
    if kind.late_interaction:
        return LateInteractionScorer(tm, pairs, model_config)
    if kind.embeds:
        return BiEncoderScorer(tm, pairs, model_config)
    if kind.bidirectional:
        return EncoderPairScorer(tm, pairs, model_config)
    if getattr(model_config.hf_config, "token_compression", None):
        return (CompressedMisScorer if mis else CompressedPairScorer)(tm, pairs, model_config)
    return (MisScorer if mis else DecoderPairScorer)(tm, pairs, model_config)
