"""Listwise reranking (jina-reranker-v3, models/jina_reranker_v3.py), as its model card's ``rerank`` does it:

- each document is cut to its first ``max_doc_tokens`` tokens (2,048 unless rerank's
  ``max_tokens_per_doc`` says) and the query to its first 512, decoded back to text when cut;
- documents go into blocks of at most 125, a block closing once what is left of the context (its
  length less twice the query's tokens, less the block's documents) is at most ``max_doc_tokens``;
- each block is one prompt (``block_prompt``: the card's template), the marker strings first removed
  from the texts; the model returns the query's vector and each document's;
- the query vector is the blocks' query vectors averaged, each weighted by its block's best
  (1 + cosine) / 2, and a document's score is its cosine with that vector (one block: with its
  block's own query vector).

The blocks of a request are its sequences, batched with other requests' as any are.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from multiscore.entrypoints.serving.results import DocumentScores, ScoreResult
from multiscore.entrypoints.serving.scorers import Scorer
from multiscore.messages import PoolingParams
from multiscore.models.jina_reranker_v3 import marker_ids_of

DOC_MARKER, QUERY_MARKER = "<|embed_token|>", "<|rerank_token|>"
BLOCK_DOCUMENTS, MAX_QUERY_TOKENS, MAX_DOC_TOKENS = 125, 512, 2048
SYSTEM_PROMPT = (
    "You are a search relevance expert who can determine a ranking of the passages based on how relevant they are "
    "to the query. If the query is a question, how relevant a passage is depends on how well it answers the "
    "question. If not, try to analyze the intent of the query and assess how well each passage satisfies the "
    "intent. If an instruction is provided, you should follow the instruction when determining the ranking."
)


def block_prompt(query: str, docs: list[str], instruction: Optional[str] = None) -> str:
    """The model card's prompt for one block (chat-formatted, thinking switched off)."""
    parts = [f"I will provide you with {len(docs)} passages, each indicated by a numerical identifier. "
             f"Rank the passages based on their relevance to query: {query}\n"]
    if instruction:
        parts.append(f"<instruct>\n{instruction}\n</instruct>\n")
    parts.append("\n".join(f'<passage id="{i}">\n{doc}{DOC_MARKER}\n</passage>' for i, doc in enumerate(docs)) + "\n")
    parts.append(f"<query>\n{query}{QUERY_MARKER}\n</query>")
    return (f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n" + "".join(parts)
            + "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")


def _without_markers(text: str) -> str:
    return text.replace(DOC_MARKER, "").replace(QUERY_MARKER, "")


def _cut(tokenizer, text: str, limit: int) -> tuple[str, list[int]]:
    """(the text, cut to ``limit`` tokens and decoded when longer, as the card's code does; its tokens)."""
    ids = tokenizer(text, truncation=True, max_length=limit)["input_ids"]
    return (tokenizer.decode(ids) if len(ids) >= limit else text), ids


def _cosines(queries: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """[Q, D] x [N, D] -> [Q, N]."""
    return (queries @ docs.T) / (np.linalg.norm(queries, axis=-1, keepdims=True) * np.linalg.norm(docs, axis=-1))


class ListwiseScorer(Scorer):
    async def score(self, query, items, *, label_token_ids=None, apply_softmax=False, item_first=False,
                    embed_overrides=None, return_pooled_hidden_states=False, priority=0) -> ScoreResult:
        kind, items = self._own_inputs(query, items, embed_overrides, return_pooled_hidden_states)
        if kind != "text":
            raise ValueError(f"{self.model_config.architecture} is a listwise reranker: it builds its prompt from "
                             "texts, so give the query and items as text")
        if label_token_ids is not None or apply_softmax:
            raise ValueError("label_token_ids and apply_softmax apply to a CausalLM's next-token probabilities; a "
                             "listwise reranker's score is a cosine similarity")
        out = await self.score_documents(query, items)
        return ScoreResult([[s] for s in out.scores], out.prompt_tokens)

    async def score_documents(self, query, documents, *, max_doc_tokens=None, keep=None, template_vars=None,
                              use_activation=None, rule="score") -> DocumentScores:
        if keep is not None:
            raise ValueError("truncate_prompt_tokens: a listwise reranker cuts each document (max_tokens_per_doc) and "
                             "the query itself, and reads them in blocks that fit its context")
        extra = set(template_vars or {}) - {"instruction"}
        if extra:
            raise ValueError(f"chat_template_kwargs {sorted(extra)}: a listwise reranker's prompt takes an instruction only")
        instruction = (template_vars or {}).get("instruction")
        doc_limit = max_doc_tokens or MAX_DOC_TOKENS

        def prepare(tokenizer):
            cut_query, query_ids = _cut(tokenizer, _without_markers(query), MAX_QUERY_TOKENS)
            query_len = len(query_ids)
            docs = [_cut(tokenizer, _without_markers(d), doc_limit) for d in documents]
            blocks, block, room = [], [], self.model_config.context_length - 2 * query_len
            for i, (_, ids) in enumerate(docs):
                block.append(i)
                room -= len(ids)
                if len(block) >= BLOCK_DOCUMENTS or room <= doc_limit:
                    blocks.append(block)
                    block, room = [], self.model_config.context_length - 2 * query_len
            if block:
                blocks.append(block)
            prompts = [tokenizer(block_prompt(cut_query, [docs[i][0] for i in b], instruction))["input_ids"]
                       for b in blocks]
            return blocks, prompts, query_ids, [ids for _, ids in docs]  # each text's tokens, as read

        blocks, prompts, query_ids, doc_ids = await self.tm.tokenize_with(documents, prepare)
        doc_marker, query_marker = marker_ids_of(self.model_config.hf_config)
        for block, ids in zip(blocks, prompts):
            if ids.count(doc_marker) != len(block) or ids.count(query_marker) != 1:
                raise ValueError(f"the tokenizer does not keep {DOC_MARKER} and {QUERY_MARKER} as the model's marker "
                                 f"tokens ({doc_marker}, {query_marker})")
        out = await self._run([], prompts, PoolingParams(activation="none", per_token=True))
        doc_vectors, query_vectors, weights = np.zeros((len(documents), 0)), [], []
        for block, rows in zip(blocks, out.outputs):
            rows = np.asarray(rows, dtype=np.float64)  # [len(block) + 1, 512]: the documents', then the query's
            if doc_vectors.shape[1] == 0:
                doc_vectors = np.zeros((len(documents), rows.shape[1]))
            doc_vectors[block] = rows[:-1]
            query_vectors.append(rows[-1])
            weights.append(((1.0 + _cosines(rows[-1:], rows[:-1])) / 2.0).max())
        query_vector = np.average(np.stack(query_vectors), axis=0, weights=weights)
        scores = _cosines(query_vector[None], doc_vectors)[0]
        return DocumentScores(scores.tolist(), out.prompt_tokens, [query_ids + d for d in doc_ids])
