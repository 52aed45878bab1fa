"""Cutting a tokenized text to k tokens the way Hugging Face tokenizers do (``truncation=True,
max_length=k``), which is what vLLM's ``truncate_prompt_tokens``, TEI's ``truncate`` and
sentence-transformers' ``max_seq_length`` mean: the text's own tokens are cut, and the special
tokens the tokenizer adds around them ([CLS] ... [SEP], <s> ... </s>, a BOS) stay. A plain slice of
the ids would drop the [CLS] that a CLS-pooled encoder reads its embedding from.
"""

from __future__ import annotations

from typing import Optional


def cut_texts_ids(tokenizer, texts: list[str], ids: list[list[int]], keep: int, keep_start: bool) -> list[list[int]]:
    """``ids`` (each of ``texts`` tokenized with special tokens) cut to ``keep`` tokens each: the
    text's last tokens (vLLM's left truncation) or, with ``keep_start``, its first (TEI's and
    sentence-transformers' right truncation), the special tokens kept where they were. The texts
    over the limit are tokenized once more, bare, in one batch."""
    long = [i for i, x in enumerate(ids) if len(x) > keep]
    if not long:
        return ids
    bare_ids = tokenizer([texts[i] for i in long], add_special_tokens=False)["input_ids"]
    out = list(ids)
    for i, bare in zip(long, bare_ids):
        out[i] = _cut(ids[i], bare, keep, keep_start)
    return out


def cut_ids(ids: list[list[int]], keep: Optional[int], keep_start: bool) -> list[list[int]]:
    """Token ids as given (no special tokens to keep) cut to their first or last ``keep`` (None: as they are)."""
    if keep is None:
        return ids
    return [x[:keep] if keep_start else x[-keep:] for x in ids]


def _cut(ids: list[int], bare: list[int], keep: int, keep_start: bool) -> list[int]:
    start = _offset(ids, bare)
    added = len(ids) - len(bare)
    if start is None or added >= keep:  # no special tokens to keep, or no room for any text: a plain cut
        return cut_ids([ids], keep, keep_start)[0]
    budget = keep - added
    body = bare[:budget] if keep_start else bare[len(bare) - budget:]
    return ids[:start] + body + ids[start + len(bare):]


def _offset(ids: list[int], bare: list[int]) -> Optional[int]:
    """Where the text's own tokens ``bare`` sit inside ``ids`` (after the leading special tokens)."""
    for start in range(len(ids) - len(bare) + 1):
        if ids[start : start + len(bare)] == bare:
            return start
    return None


def special_token_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text's own ([CLS] / [SEP], <s> / </s>,
    a BOS): read off a one-word text tokenized with and without them."""
    ids = tokenizer("a")["input_ids"]
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    start = _offset(ids, bare)
    if start is None:
        raise ValueError("this tokenizer's special tokens cannot be told apart from a text's own tokens")
    return ids[:start], ids[start + len(bare):]
