"""What Hugging Face text-embeddings-inference's API means (/embed, /embed_all, /rerank with
``texts``, /predict, /similarity, /tokenize with ``inputs``, /decode, /info), on top of the same
serving objects as the vLLM routes.

TEI's truncation: ``truncate: true`` cuts inputs to the model's input length (from the end by
default, ``truncation_direction: "Left"`` from the start); without it a longer input is refused.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind, Task
from multiscore.entrypoints.serving.classify import ranked_labels
from multiscore.entrypoints.serving.embed import EmbedServing
from multiscore.entrypoints.serving.results import PoolingResult
from multiscore.entrypoints.serving.scores import ScoreServing
from multiscore.entrypoints.serving.tasks import require_task
from multiscore.messages import PoolingParams
from multiscore.tokenizer.inputs import check_token_ids
from multiscore.tokenizer.pair_tokenizer import PairTokenizer
from multiscore.tokenizer.tokenizer_manager import TokenizerManager


class TeiServing:
    def __init__(
        self, tm: TokenizerManager, model_config: ModelConfig, pairs: PairTokenizer, scores: ScoreServing,
        embed: EmbedServing,
    ) -> None:
        self.tm, self.model_config, self.pairs = tm, model_config, pairs
        self.scores, self.embedder = scores, embed
        self.auto_truncate = tm.server_args.auto_truncate

    def truncates(self, requested: Optional[bool]) -> bool:
        """A request's ``truncate``; when it gives none, the server's --auto-truncate (TEI's rule)."""
        return self.auto_truncate if requested is None else requested

    def _keep(self, truncate: bool) -> Optional[int]:
        return self.model_config.context_length if truncate else None

    async def embed(
        self, inputs, *, normalize: bool = True, truncate: bool = False, truncation_direction: str = "Right",
        dimensions: Optional[int] = None, prompt_name: Optional[str] = None,
    ) -> PoolingResult:
        result = await self.embedder.embed(
            inputs, dimensions=dimensions, normalize=normalize, truncate_prompt_tokens=self._keep(truncate),
            keep_start=truncation_direction == "Right", prompt_name=prompt_name,
        )
        return PoolingResult(result.embeddings, result.prompt_tokens)

    async def embed_sparse(
        self, inputs, *, truncate: bool = False, truncation_direction: str = "Right", prompt_name: Optional[str] = None,
    ) -> PoolingResult:
        """TEI's /embed_sparse: per input, the non-zero entries of its SPLADE vector as
        ``{index, value}`` (vocabulary id, weight), by index; on BGE-M3, its lexical weights."""
        if self.model_config.lexical_weights:
            return await self._lexical_weights(inputs, truncate, truncation_direction, prompt_name)
        if not self.model_config.kind.sparse:
            raise ValueError(
                f"/embed_sparse needs a SPLADE model (a masked LM such as BertForMaskedLM) or BGE-M3 "
                f"(BgeM3EmbeddingModel), and this one is {self.model_config.architecture}: use /embed"
            )
        result = await self.embed(inputs, normalize=False, truncate=truncate, truncation_direction=truncation_direction,
                                  prompt_name=prompt_name)
        sparse = []
        for vector in result.data:
            values = np.asarray(vector, dtype=np.float32)
            nonzero = np.flatnonzero(values)
            sparse.append([{"index": int(i), "value": float(values[i])} for i in nonzero])
        return PoolingResult(sparse, result.prompt_tokens)

    async def _lexical_weights(self, inputs, truncate: bool, truncation_direction: str,
                               prompt_name: Optional[str]) -> PoolingResult:
        """BGE-M3's sparse output as FlagEmbedding reduces it: each token id's largest weight over the
        text, leaving out zero weights and the special ids (<s>, </s>, <pad>, <unk>)."""
        ids = await self.tm.tokenize_inputs(
            self.embedder.with_prompt(inputs, prompt_name), truncate_prompt_tokens=self._keep(truncate),
            keep_start=truncation_direction == "Right", what="embed_sparse",
        )
        pooling = PoolingParams(activation="default", per_token=True, token_head="classify")
        out = await self.tm.run_request(self.tm.build_request([], ids, pooling))
        tok = self.tm.tokenizer
        unused = {tok.cls_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id}
        sparse = []
        for text_ids, weights in zip(ids, out.outputs):  # weights: [L - 2][1], for text_ids[1:-1]
            best: dict[int, float] = {}
            for token, (w,) in zip(text_ids[1:-1], weights):
                if token not in unused and w > 0:
                    best[token] = max(best.get(token, 0.0), w)
            sparse.append([{"index": i, "value": best[i]} for i in sorted(best)])
        return PoolingResult(sparse, out.prompt_tokens)

    async def embed_all(
        self, inputs, *, truncate: bool = False, truncation_direction: str = "Right", prompt_name: Optional[str] = None,
    ) -> PoolingResult:
        """TEI's /embed_all: per input, every token's final hidden state ([tokens][H]), not pooled or normalised."""
        result = await self.embedder.embed(
            inputs, use_activation=False, per_token=True, truncate_prompt_tokens=self._keep(truncate),
            keep_start=truncation_direction == "Right", prompt_name=prompt_name,
        )
        return PoolingResult(result.embeddings, result.prompt_tokens)

    def tokenize(self, inputs, *, add_special_tokens: bool = True, prompt_name: Optional[str] = None) -> list[list[dict]]:
        """TEI's /tokenize: per input, its tokens as {id, text, special, start, stop}. ``start``/``stop``
        are byte offsets into the input, as TEI's (null for special tokens, whose ``text`` is the token)."""
        texts = self.embedder.with_prompt([inputs] if isinstance(inputs, str) else inputs, prompt_name)
        tok, out = self.tm.tokenizer, []
        for text in texts:
            enc = tok(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True,
                      return_special_tokens_mask=True)
            pieces = tok.convert_ids_to_tokens(enc["input_ids"])
            tokens = []
            for token_id, special, (start, stop), piece in zip(
                enc["input_ids"], enc["special_tokens_mask"], enc["offset_mapping"], pieces
            ):
                if special:
                    tokens.append({"id": token_id, "text": piece, "special": True, "start": None, "stop": None})
                else:
                    first = len(text[:start].encode())
                    tokens.append({"id": token_id, "text": text[start:stop], "special": False, "start": first,
                                   "stop": first + len(text[start:stop].encode())})
            out.append(tokens)
        return out

    def decode(self, ids, *, skip_special_tokens: bool = True) -> list[str]:
        """TEI's /decode: one text per id list (a single list gives a list of one)."""
        lists = [ids] if not ids or isinstance(ids[0], int) else ids
        for i, x in enumerate(lists):
            check_token_ids(x, len(self.tm.tokenizer), f"'ids' {i}")
        return [self.tm.tokenizer.decode(x, skip_special_tokens=skip_special_tokens) for x in lists]

    async def rerank(
        self, query: str, texts: list[str], *, raw_scores: bool = False, return_text: bool = False,
        truncate: bool = False,
    ) -> tuple[list[dict], int]:
        """-> ([{index, score, text?}] by score, highest first), prompt tokens."""
        out = await self.scores.rerank(
            # raw_scores: the logits; else TEI's sigmoid / softmax, and nothing to ask of a model without an activation.
            query, texts, use_activation=False if raw_scores else None, return_documents=return_text,
            truncate_prompt_tokens=self._keep(truncate), rule="default",
        )
        ranked = []
        for r in out.results:
            entry = {"index": r.index, "score": r.relevance_score}
            if return_text:
                entry["text"] = r.document
            ranked.append(entry)
        return ranked, out.prompt_tokens

    async def predict(self, inputs, *, raw_scores: bool = False, truncate: bool = False) -> tuple[list, int]:
        """Class scores of a text or a (text, text) pair, or of a batch of them -> [{label, score}]
        by score (a list of those for a batch), prompt tokens."""
        require_task(self.model_config, Task.CLASSIFY)
        sequences, single = _predict_inputs(inputs)
        texts = [s for s in sequences if isinstance(s, str)]
        if texts and len(texts) != len(sequences):
            raise ValueError("'inputs' mixes texts and pairs: give one kind in a batch")
        pooling = PoolingParams(activation="none" if raw_scores else "default")
        if texts:
            ids = await self.tm.tokenize_inputs(texts, truncate_prompt_tokens=self._keep(truncate), keep_start=True, what="predict")
            request = self.tm.build_request([], ids, pooling)
        else:
            cut = {"truncation": "longest_first", "max_length": self.model_config.context_length} if truncate else {}
            ids, types = self.pairs.encode_pairs([a for a, _ in sequences], [b for _, b in sequences], **cut)
            request = self.tm.build_request([], ids, pooling, items_token_type_ids=types)
        out = await self.tm.run_request(request)
        ranked = [ranked_labels(self.model_config, row) for row in out.outputs]
        return (ranked[0] if single else ranked), out.prompt_tokens

    async def similarity(self, source_sentence: str, sentences: list[str], *, truncate: bool = False) -> tuple[list[float], int]:
        """Cosine similarity of the source sentence's embedding with each sentence's."""
        if not sentences:
            raise ValueError("'sentences' must not be empty")
        result = await self.embedder.embed(
            [source_sentence] + list(sentences), normalize=False, truncate_prompt_tokens=self._keep(truncate),
            keep_start=True,
        )
        vectors = np.asarray(result.embeddings, dtype=np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return (vectors[1:] @ vectors[0]).tolist(), result.prompt_tokens

    def _prompts(self) -> dict:
        pooling = self.model_config.pooling
        prompts = dict(pooling.prompts) if pooling is not None and pooling.prompts else None
        default = pooling.default_prompt_name if pooling is not None else None
        text = pooling.default_prompt if pooling is not None else None
        return {"prompts": prompts, "default_prompt_name": default,
                "default_prompt": text if text is not None else prompts[default] if prompts and default else None}

    def info(self, *, model_id: str, dtype: str, version: str, max_batch_tokens: int, max_client_batch_size: int,
             max_concurrent_requests: int) -> dict:
        cfg = self.model_config
        return {
            "model_id": model_id, "model_sha": None, "model_dtype": dtype, "model_type": self._model_type(),
            **self._prompts(),
            "max_concurrent_requests": max_concurrent_requests, "max_input_length": cfg.context_length,
            "max_batch_tokens": max_batch_tokens, "max_batch_requests": None,
            "max_client_batch_size": max_client_batch_size, "auto_truncate": self.auto_truncate, "tokenization_workers": 1,
            "version": version, "sha": None, "docker_label": None,
        }

    def _model_type(self) -> dict:
        cfg = self.model_config
        if cfg.kind.sparse:
            return {"embedding": {"pooling": "splade"}}
        if cfg.kind.embeds:
            return {"embedding": {"pooling": cfg.pooling.mode if cfg.pooling else "cls"}}
        if cfg.kind.late_interaction:  # TEI has no ColBERT; its rerank route serves MaxSim scores
            return {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
        id2label = {str(i): cfg.label_name(i) or f"LABEL_{i}" for i in range(cfg.num_labels)}
        labels = {"id2label": id2label, "label2id": {name: int(i) for i, name in id2label.items()}}
        if cfg.kind is ModelKind.CAUSAL_LM:
            return {"classifier": {"id2label": {}, "label2id": {}}}
        return {"reranker": labels} if Task.SCORE in cfg.tasks else {"classifier": labels}


def _predict_inputs(inputs) -> tuple[list, bool]:
    """TEI's ``inputs``: a text, a [text, text] pair (a two-text list is one pair, as TEI reads
    it), or a list of texts / pairs -> (sequences, whether it was a single one)."""
    if isinstance(inputs, str):
        return [inputs], True
    if _is_pair(inputs):
        return [tuple(inputs)], True
    if isinstance(inputs, list) and inputs and all(isinstance(x, str) or _is_pair(x) for x in inputs):
        return [x if isinstance(x, str) else tuple(x) for x in inputs], False
    raise ValueError("'inputs' must be a text, a [text, text] pair, or a non-empty list of them")


def _is_pair(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(x, str) for x in value)
