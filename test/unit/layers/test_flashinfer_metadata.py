"""FlashInfer plan inputs (prefix lengths, in-item positions, padding, max item lengths), on CPU.

The mask check replays FlashInfer's multi-item rule — a token after the prefix at in-item position
p sees the prefix and keys k with ``i - p < k <= i``; a prefix token is causal — on the metadata,
and compares it with the reference mask of DESIGN.md §4 (``dense_mis_mask``).
"""

from __future__ import annotations

import pytest
import torch

from fake_flashinfer import multi_item_mask
from multiscore.layers.attention.base import SequenceLayout
from multiscore.layers.attention.flashinfer_metadata import build_plan_inputs, item_positions
from mis_reference import dense_mis_mask


def mis(start: int, query_len: int, item_lens: list[int]) -> SequenceLayout:
    length = query_len + sum(item_lens) + len(item_lens) + 1
    return SequenceLayout(start, length, query_len, torch.tensor(item_lens, dtype=torch.long))


def test_item_positions_match_flashinfers_example():
    assert item_positions(torch.tensor([3, 2, 4])).tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4, 0]
    assert item_positions(torch.tensor([0, 2, 0])).tolist() == [0, 0, 1, 2, 0, 0]  # empty items


def test_plain_batch_has_no_mis_inputs():
    inputs = build_plan_inputs([SequenceLayout(0, 5), SequenceLayout(5, 3)])
    assert inputs.indptr.tolist() == [0, 5, 8] and inputs.indptr.dtype == torch.int32
    assert not inputs.is_mis and inputs.token_pos_in_items is None and inputs.token_pos_in_items_len == 0


def test_mixed_batch():
    a = mis(0, 4, [3, 2, 4])  # 4 + 9 + 3 + 1 = 17 tokens
    plain = SequenceLayout(17, 6)
    b = mis(23, 2, [1, 0])  # 2 + 1 + 2 + 1 = 6 tokens
    inputs = build_plan_inputs([a, plain, b])
    assert inputs.indptr.tolist() == [0, 17, 23, 29]
    assert inputs.prefix_len.dtype == torch.uint32 and inputs.prefix_len.tolist() == [4, 6, 2]
    assert inputs.max_item_len.dtype == torch.uint16 and inputs.max_item_len.tolist() == [4, 0, 1]
    assert inputs.token_pos_in_items_len == 13
    pos = inputs.token_pos_in_items
    assert pos.dtype == torch.uint16 and pos.shape == (3 * 13,)
    rows = pos.to(torch.int32).view(3, 13).tolist()
    assert rows[0] == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4, 0]
    assert rows[1] == [0] * 13  # plain: all prefix, padding only
    assert rows[2] == [0, 1, 0, 0] + [0] * 9
    assert not inputs.needs_fallback


def test_empty_query_needs_the_fallback():
    assert build_plan_inputs([mis(0, 0, [2, 3])]).needs_fallback


def test_a_key_limit_needs_the_fallback():
    """ColBERT's query expansion: the ragged wrapper cannot hide a sequence's last keys."""
    assert not build_plan_inputs([SequenceLayout(0, 8)], causal=False).needs_fallback
    assert build_plan_inputs([SequenceLayout(0, 8, key_len=5), SequenceLayout(8, 3)], causal=False).needs_fallback


def test_inconsistent_layout_is_rejected():
    bad = SequenceLayout(0, 11, 3, torch.tensor([2, 2]))  # 8 tokens after the query, items make 7
    with pytest.raises(ValueError, match="tokens after the query"):
        build_plan_inputs([bad])


@pytest.mark.parametrize("query_len, item_lens", [(4, [3, 2, 4]), (1, [0, 5]), (3, [1, 1, 1, 1]), (2, [0, 0])])
def test_plan_inputs_give_the_designed_mask(query_len, item_lens):
    seq = mis(0, query_len, item_lens)
    inputs = build_plan_inputs([seq])
    token_pos = inputs.token_pos_in_items.to(torch.int32).tolist()
    got = multi_item_mask(seq.length, int(inputs.prefix_len[0]), token_pos)
    expected = dense_mis_mask(query_len, item_lens)
    # Delimiter rows are never read; DESIGN lets them see the query only, as FlashInfer does.
    torch.testing.assert_close(got, expected.to(torch.bool))
