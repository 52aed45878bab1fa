"""Tokenize (query, document) pairs the way each kind of model reads them.

- decoders: ``query_ids + item_ids`` with the query shared by all documents (one MIS pass), through
  the score template when there is one;
- encoders (BERT, XLM-R): the tokenizer's own pair encoding (``[CLS] q [SEP] d [SEP]`` with token
  types), one sequence per pair;
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
        instruction: Optional[str] = None,
    ) -> tuple[list[int], list[list[int]]]:
        """-> (query_ids, items_ids) with ``query_ids + items_ids[i]`` the prompt of pair i.

        Without a template: the query with special tokens, each document without (as /v1/score).
        With one: the head of the rendered prompt is the query, ``document + tail`` each item.
        """
        check_documents(documents)
        tokenizer = self.tokenizer
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
        cap = self._document_cap(len(query_ids) + len(tail_ids), max_doc_tokens, keep)
        return query_ids, [ids[:cap] + tail_ids for ids in docs_ids]

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
