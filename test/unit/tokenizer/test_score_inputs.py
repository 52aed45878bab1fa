"""Validation messages shared by HTTP (400) and Engine (ValueError)."""

import pytest

from multiscore.tokenizer.inputs import (
    all_token_lists,
    check_items_token_ids,
    check_label_token_ids,
    check_lengths,
    check_token_ids,
    resolve_truncation,
    text_or_token_ids,
)


def test_text_and_token_inputs_are_recognised():
    assert text_or_token_ids("q", "x") == ("text", ["x"])
    assert text_or_token_ids("q", ["a", "b"]) == ("text", ["a", "b"])
    assert text_or_token_ids([1, 2], [[3], []]) == ("tokens", [[3], []])
    assert text_or_token_ids("q", []) == ("text", [])


@pytest.mark.parametrize(
    "query, items, message",
    [
        ("q", [[1, 2]], "text query needs text items"),
        ([1], ["a"], "token-id query needs token-id items"),
        ([1], [1, 2], "token-id query needs token-id items"),
        ("q", 5, "text query needs text items"),
        (None, ["a"], "'query' is required"),
        ("q", None, "'items' is required"),
        (3.5, ["a"], "'query' must be a string or a list of token ids"),
        ([1, True], [[2]], "'query' must be a string or a list of token ids"),
    ],
)
def test_bad_input_shapes(query, items, message):
    with pytest.raises(ValueError, match=message):
        text_or_token_ids(query, items)


def test_token_ids_outside_vocabulary():
    check_token_ids([0, 9], 10, "x")
    with pytest.raises(ValueError, match=r"item 2 contains token id 10, outside the vocabulary \[0, 10\)"):
        check_token_ids([1, 10], 10, "item 2")
    with pytest.raises(ValueError, match="token id -1"):
        check_token_ids([-1], 10, "'query'")


class _Id(int):
    pass


def test_all_token_lists_takes_what_is_token_list_takes():
    """The C fast path decides plain lists of plain ints; everything else gets the item-by-item rules."""
    assert all_token_lists([[1, 2], [], [3]]) and all_token_lists([])
    assert all_token_lists([[_Id(4)], type("L", (list,), {})([5])])  # subclasses of int and list, as before
    for bad in ([[1, True]], [[1.0]], [(1, 2)], [[1], "a"], [[[1]]], ([1],), "ab", None):
        assert not all_token_lists(bad), bad


def test_items_token_ids_are_checked_at_once_and_the_bad_item_named():
    check_items_token_ids([[0, 9], [], [5]], 10, 3)
    check_items_token_ids([], 10, 0)
    for items, message in [
        ([[1], [2, 10]], r"item 1 contains token id 10, outside the vocabulary \[0, 10\)"),
        ([[1], [], [3, -1]], "item 2 contains token id -1"),
        ([[1], [2**64]], f"item 1 contains token id {2**64}"),  # beyond int64: no vector, the loop names it
        ([[-(2**63) - 1]], "item 0 contains token id"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_items_token_ids(items, 10, sum(map(len, items)))


def test_label_token_ids_rules():
    assert check_label_token_ids(None, 10, causal_lm=False) is None
    assert check_label_token_ids([1, 2], 10, causal_lm=False) is None  # ignored for classifiers
    assert check_label_token_ids([1, 2], 10, causal_lm=True) == [1, 2]
    for bad, msg in [(None, "required"), ([], "required"), ([-3], "-3"), ([10], "10"), (["a"], "list of token ids")]:
        with pytest.raises(ValueError, match=msg):
            check_label_token_ids(bad, 10, causal_lm=True)


def test_lengths_against_context():
    check_lengths(3, [5, 0], 8, mis=False)
    with pytest.raises(ValueError, match="exceeds the context length of 8"):
        check_lengths(3, [6], 8, mis=False)
    with pytest.raises(ValueError, match="2 delimiters"):
        check_lengths(3, [4], 8, mis=True)
    with pytest.raises(ValueError, match="both empty"):
        check_lengths(0, [0], 8, mis=True)
    with pytest.raises(ValueError, match="input 1 has 9 tokens, more than the context length of 8"):
        check_lengths(0, [8, 9], 8, mis=False)  # classify / embed inputs: no query
    with pytest.raises(ValueError, match="query and item 2 are both empty"):
        check_lengths(0, [1, 2, 0], 8, mis=False)  # the all-fit shortcut must not hide an empty pair
    check_lengths(0, [1, 8], 8, mis=False)
    check_lengths(3, [], 8, mis=True)


def test_resolve_truncation():
    assert resolve_truncation(None, 128) is None
    assert resolve_truncation(-1, 128) == 128
    assert resolve_truncation(5, 128) == 5
    with pytest.raises(ValueError, match="truncate_prompt_tokens value is greater than max_model_len"):
        resolve_truncation(129, 128)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="positive number of tokens, or -1"):
            resolve_truncation(bad, 128)
