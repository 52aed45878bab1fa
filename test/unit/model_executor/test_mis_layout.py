"""MIS metadata on hand-made layouts: positions, read-out rows, segments and the dense mask."""

import torch

from mis_reference import dense_mis_mask, mis_packed_len
from multiscore.model_executor.mis_layout import mis_positions, mis_readout_rows, pack_mis

D = 99


def test_pack_mis_layout():
    assert pack_mis([1, 2], [[3], [], [4, 5]], D) == [1, 2, D, 3, D, D, 4, 5, D]
    assert mis_packed_len(2, [1, 0, 2]) == 9


def test_positions_restart_per_item_and_delimiters_sit_at_last_query_position():
    # query q=3 (0,1,2) | D | a b | D | (empty) | D | c d e | D
    pos = mis_positions(3, torch.tensor([2, 0, 3]))
    assert pos.tolist() == [0, 1, 2, 2, 3, 4, 2, 2, 3, 4, 5, 2]


def test_positions_with_empty_query_start_items_at_zero():
    assert mis_positions(0, torch.tensor([2, 1])).tolist() == [0, 0, 1, 0, 0, 0]


def test_readout_rows_are_last_item_token_or_last_query_token():
    # rows: q 0..2, D3, items 4-5, D6, (empty), D7, 8-10, D11
    assert mis_readout_rows(3, torch.tensor([2, 0, 3])).tolist() == [5, 2, 10]


def test_dense_mask_matches_the_contract():
    m = dense_mis_mask(2, [2, 1]).int()
    # rows/cols: q0 q1 D a1 a2 D b1 D
    expected = [
        [1, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],  # delimiter: only the query
        [1, 1, 0, 1, 0, 0, 0, 0],  # a1: query + itself
        [1, 1, 0, 1, 1, 0, 0, 0],  # a2: query + a1, a2
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 1, 0],  # b1: query + itself, never item a
        [1, 1, 0, 0, 0, 0, 0, 0],
    ]
    assert m.tolist() == expected
