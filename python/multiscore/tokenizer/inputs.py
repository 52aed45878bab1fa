"""Validation of inputs, shared by HTTP and Engine: every bad input becomes a ValueError with a
message a user can act on (HTTP turns it into a 400)."""

from __future__ import annotations

from itertools import chain
from typing import Optional, Union

import numpy as np

TextOrTokens = Union[str, list[int]]

_REDUCE_INPUT = "Please reduce the length of the input prompt."  # vLLM's advice, which its clients look for


def is_token_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)


def all_token_lists(values) -> bool:
    """Whether ``values`` is a list of token-id lists. The common case (plain lists of plain ints)
    is decided by two passes in C: a 30,000-item request took 60 ms item by item, and the event
    loop that serves every other request waited for it."""
    if not isinstance(values, list):
        return False
    if set(map(type, values)) <= {list} and set(map(type, chain.from_iterable(values))) <= {int}:
        return True
    return all(is_token_list(v) for v in values)  # subclasses of list or int, or a bad value


def text_or_token_ids(query, items) -> tuple[str, list]:
    """Tells a text query and items from token-id ones (SGLang's two forms; a mix is an error).

    -> ("text", [str, ...]) or ("tokens", [[int, ...], ...]); a single text item becomes a list."""
    if query is None:
        raise ValueError("'query' is required")
    if items is None:
        raise ValueError("'items' is required")
    if isinstance(query, str):
        if isinstance(items, str):
            return "text", [items]
        if isinstance(items, list) and all(isinstance(it, str) for it in items):
            return "text", items
        raise ValueError("a text query needs text items: 'items' must be a string or a list of strings")
    if is_token_list(query):
        if all_token_lists(items):
            return "tokens", items
        raise ValueError("a token-id query needs token-id items: 'items' must be a list of lists of token ids")
    raise ValueError("'query' must be a string or a list of token ids")


def check_token_ids(ids: list[int], vocab_size: int, what: str) -> None:
    if not ids:
        return
    try:
        arr = np.asarray(ids, dtype=np.int64)
    except OverflowError:  # ids beyond int64: outside any vocabulary
        bad_id = next(t for t in ids if not -(2**63) <= t < 2**63)
        raise ValueError(f"{what} contains token id {bad_id}, outside the vocabulary [0, {vocab_size})") from None
    bad = arr[(arr < 0) | (arr >= vocab_size)]
    if bad.size:
        raise ValueError(f"{what} contains token id {int(bad[0])}, outside the vocabulary [0, {vocab_size})")


def check_items_token_ids(items: list[list[int]], vocab_size: int, total: int) -> None:
    """``check_token_ids`` on each item ("item i contains ..."), done as one vector check over
    their ``total`` ids; the item loop runs only to name a bad id."""
    try:
        flat = np.fromiter(chain.from_iterable(items), np.int64, total)
    except (OverflowError, TypeError, ValueError):  # an id beyond int64: the item loop names it
        flat = None
    if flat is None or ((flat < 0) | (flat >= vocab_size)).any():
        for i, item in enumerate(items):
            check_token_ids(item, vocab_size, f"item {i}")


def check_label_token_ids(label_token_ids, vocab_size: int, causal_lm: bool) -> Optional[list[int]]:
    if not causal_lm:
        return None  # classification heads score their own classes; labels are ignored
    if label_token_ids is None or (isinstance(label_token_ids, list) and not label_token_ids):
        raise ValueError("'label_token_ids' is required for a CausalLM model: the token ids whose probabilities to return")
    if not is_token_list(label_token_ids):
        raise ValueError("'label_token_ids' must be a list of token ids")
    check_token_ids(label_token_ids, vocab_size, "'label_token_ids'")
    return list(label_token_ids)


def check_lengths(query_len: int, item_lens: list[int], context_length: int, mis: bool) -> None:
    """Every item must fit the context window with the full query (plus its two delimiters under MIS)."""
    extra = 2 if mis else 0
    if item_lens and query_len + min(item_lens) > 0 and query_len + max(item_lens) + extra <= context_length:
        return  # all fit: no need to look at each item
    for i, n in enumerate(item_lens):
        if query_len + n == 0:
            raise ValueError(f"query and item {i} are both empty: there is no token to score")
        if query_len == 0 and n > context_length:  # classify / embed inputs, encoder pairs
            raise ValueError(
                f"input {i} has {n} tokens, more than the context length of {context_length}. {_REDUCE_INPUT}"
            )
        if query_len + n + extra > context_length:
            raise ValueError(
                f"query ({query_len} tokens) + item {i} ({n} tokens){' + 2 delimiters' if mis else ''} "
                f"exceeds the context length of {context_length} tokens. {_REDUCE_INPUT}"
            )


def resolve_truncation(truncate_prompt_tokens: Optional[int], context_length: int) -> Optional[int]:
    """vLLM's ``truncate_prompt_tokens``: None = off, -1 = the context length, k >= 1 tokens."""
    if truncate_prompt_tokens is None:
        return None
    if truncate_prompt_tokens == -1:
        return context_length
    if truncate_prompt_tokens < 1:
        raise ValueError("'truncate_prompt_tokens' must be a positive number of tokens, or -1 for the context length")
    if truncate_prompt_tokens > context_length:  # vLLM's words, which its clients look for
        raise ValueError(
            "truncate_prompt_tokens value is greater than max_model_len. Please request a smaller truncation size."
        )
    return truncate_prompt_tokens
