"""Tokenize (query, document) pairs the way each kind of model reads them.

- decoders: ``query_ids + item_ids`` with the query shared by all documents (one MIS pass); with a
  score template, each pair's whole rendered prompt, split where the prompts part;
- encoders (BERT, XLM-R): the tokenizer's own pair encoding (``[CLS] q [SEP] d [SEP]`` with token
  types), one sequence per pair; with a score template (NVIDIA's bidirectional Llama reranker), each
  pair's rendered prompt;
- any text list: cut to a number of content tokens, keeping the special tokens.

Truncation only ever shortens the document: ``max_tokens_per_doc`` caps it, and
``truncate_prompt_tokens`` (``keep``) caps the whole pair.
"""

from __future__ import annotations

from typing import Optional

from multiscore.tokenizer.score_template import ScoreTemplate


def check_documents(documents: list) -> None:
    for i, d in enumerate(documents):
        if not isinstance(d, str):
            raise ValueError(f"document {i} must be a string")


class PairTokenizer:
    def __init__(self, tokenizer, template: Optional[ScoreTemplate]) -> None:
        self.tokenizer = tokenizer
        self.template = template

    def decoder_pairs(
        self, query: str, documents: list[str], *, max_doc_tokens: Optional[int] = None, keep: Optional[int] = None,
        template_vars: Optional[dict] = None,
    ) -> tuple[list[int], list[list[int]]]:
        """-> (query_ids, items_ids) with ``query_ids + items_ids[i]`` the prompt of pair i.

        Without a template: the query with special tokens, each document without (as /v1/score).
        With one: each pair's rendered prompt tokenized whole, with special tokens, as vLLM
        tokenizes it; the tokens every prompt starts with are the shared query (one MIS pass), the
        rest of each prompt its item. Splitting there changes no token of any prompt.
        """
        if self.template is None:
            check_documents(documents)
            query_ids = self.tokenizer(query)["input_ids"]
            docs_ids = self.tokenizer(documents, add_special_tokens=False)["input_ids"]
            cap = self._document_cap(len(query_ids), max_doc_tokens, keep)
            return query_ids, [ids[:cap] for ids in docs_ids]
        prompts = self.templated_pairs(query, documents, max_doc_tokens=max_doc_tokens, keep=keep,
                                       template_vars=template_vars)
        shared = _common_prefix_len(prompts)
        return prompts[0][:shared], [ids[shared:] for ids in prompts]

    def templated_pairs(
        self, query: str, documents: list[str], *, max_doc_tokens: Optional[int] = None, keep: Optional[int] = None,
        template_vars: Optional[dict] = None,
    ) -> list[list[int]]:
        """Each pair's prompt ids from the score template: rendered and tokenized whole, as vLLM tokenizes
        it (FlagEmbedding's prompt: piece by piece, as FlagEmbedding does)."""
        check_documents(documents)
        if max_doc_tokens is not None:
            documents = [self._first_tokens(d, max_doc_tokens) for d in documents]
        return [self._templated_prompt(query, d, template_vars, keep) for d in documents]

    def segmented_pairs(
        self, query: str, documents: list[str], *, max_doc_tokens: Optional[int] = None, keep: Optional[int] = None,
        template_vars: Optional[dict] = None,
    ) -> tuple[list[int], list[list[int]], list[list[int]]]:
        """``templated_pairs`` split where FlagEmbedding's query part ends (models/token_compression.py)
        -> (query_ids, items_ids, items' token types: 1 for the passage, 2 for the prompt after it), with
        ``query_ids + items_ids[i]`` pair i's prompt. Needs FlagEmbedding's template."""
        if not hasattr(self.template, "query_part"):
            raise ValueError("token compression needs FlagEmbedding's prompt (the bge_reranker_lightweight score template), "
                             f"not {getattr(self.template, 'name', None)!r}")
        ids = self.templated_pairs(query, documents, max_doc_tokens=max_doc_tokens, keep=keep, template_vars=template_vars)
        head, tail = len(self.template.query_part(query)), len(self.template.prompt_part(template_vars))
        items = [x[head:] for x in ids]  # every prompt starts with the query part
        return ids[0][:head], items, [[1] * (len(x) - tail) + [2] * tail for x in items]

    def _templated_prompt(self, query: str, document: str, variables: Optional[dict], keep: Optional[int]) -> list[int]:
        """One pair's prompt ids; with ``keep``, the document loses tokens from its end until the prompt fits."""
        ids = self.template.prompt_ids(query, document, variables)
        while keep is not None and len(ids) > keep:
            doc_ids = self.tokenizer(document, add_special_tokens=False)["input_ids"]
            if not doc_ids:
                empty = len(self.template.prompt_ids(query, "", variables))
                raise ValueError(
                    f"the query takes {empty} tokens, leaving no room for a document within truncate_prompt_tokens={keep}"
                )
            document = self.tokenizer.decode(doc_ids[: max(0, len(doc_ids) - (len(ids) - keep))])
            ids = self.template.prompt_ids(query, document, variables)
        return ids

    def _first_tokens(self, text: str, n: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if len(ids) <= n else self.tokenizer.decode(ids[:n])

    def encoder_pairs(
        self, query: str, documents: list[str], *, max_doc_tokens: Optional[int] = None, keep: Optional[int] = None,
    ) -> tuple[list[list[int]], list[list[int]]]:
        """-> (input_ids, token_type_ids) per pair, from the tokenizer's pair encoding."""
        check_documents(documents)
        # The query's tokens + the pair's special tokens ([CLS] q [SEP] d [SEP]: 3 for BERT).
        fixed = len(self.tokenizer(query, add_special_tokens=False)["input_ids"]) + self.tokenizer.num_special_tokens_to_add(True)
        cap = self._document_cap(fixed, max_doc_tokens, keep)
        kwargs = {} if cap is None else {"truncation": "only_second", "max_length": fixed + cap}
        return self.encode_pairs([query] * len(documents), documents, **kwargs)

    def encode_pairs(self, firsts: list[str], seconds: list[str], **kwargs) -> tuple[list[list[int]], list[list[int]]]:
        """The tokenizer's pair encoding -> (input_ids, token_type_ids); all-zero types where the
        tokenizer gives none (XLM-R)."""
        enc = self.tokenizer(firsts, seconds, **kwargs)
        ids = enc["input_ids"]
        return ids, enc.get("token_type_ids") or [[0] * len(x) for x in ids]

    def texts(self, texts: list[str], *, add_special_tokens: bool = True, max_tokens: Optional[int] = None) -> list[list[int]]:
        """Each text alone; ``max_tokens`` cuts its content, keeping the special tokens."""
        check_documents(texts)
        if max_tokens is None:
            return self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
        specials = self.tokenizer.num_special_tokens_to_add(False) if add_special_tokens else 0
        return self.tokenizer(
            texts, add_special_tokens=add_special_tokens, truncation=True, max_length=max_tokens + specials
        )["input_ids"]

    @staticmethod
    def _document_cap(fixed: int, max_doc_tokens: Optional[int], keep: Optional[int]) -> Optional[int]:
        """Tokens a document may keep when ``fixed`` tokens of the pair are not the document."""
        cap = max_doc_tokens
        if keep is not None:
            room = keep - fixed
            if room < 1:
                raise ValueError(
                    f"the query takes {fixed} tokens, leaving no room for a document within truncate_prompt_tokens={keep}"
                )
            cap = room if cap is None else min(cap, room)
        return cap


def _common_prefix_len(seqs: list[list[int]]) -> int:
    """Length of the longest token prefix all of ``seqs`` share."""
    first, n = seqs[0], min(len(s) for s in seqs)
    for i in range(n):
        if any(s[i] != first[i] for s in seqs):
            return i
    return n
