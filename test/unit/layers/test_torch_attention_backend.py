"""The torch backend against a dense reference: softmax(QKᵀ + mask)V with the contract's masks."""

import pytest
import torch

from multiscore.layers.attention import SequenceLayout, get_backend_class
from mis_reference import dense_mis_mask, mis_packed_len

HQ, HKV, DIM = 4, 2, 8


def _reference(q, k, v, layouts, scale):
    """Dense per-sequence attention with the DESIGN.md masks (O(n²), fine for tests)."""
    out = torch.zeros_like(q)
    for seq in layouts:
        sl = slice(seq.start, seq.start + seq.length)
        n = seq.length
        if seq.query_len is None:
            mask = torch.ones(n, n, dtype=torch.bool).tril()
        else:
            mask = dense_mis_mask(seq.query_len, seq.item_lens.tolist())
        qs = q[sl].transpose(0, 1)  # [HQ, n, D]
        ks = k[sl].transpose(0, 1).repeat_interleave(HQ // HKV, 0)
        vs = v[sl].transpose(0, 1).repeat_interleave(HQ // HKV, 0)
        scores = (qs @ ks.transpose(1, 2)) * scale
        scores = scores.masked_fill(~mask, float("-inf"))
        probs = torch.softmax(scores, -1).nan_to_num(0.0)  # rows with no key (never read) -> 0
        out[sl] = (probs @ vs).transpose(0, 1)
    return out, _read_rows(layouts)


def _read_rows(layouts):
    """Rows whose values matter: every plain token, every MIS query and item token (not delimiters)."""
    rows = []
    for seq in layouts:
        if seq.query_len is None:
            rows += range(seq.start, seq.start + seq.length)
            continue
        q = seq.query_len
        rows += range(seq.start, seq.start + q)
        pos = seq.start + q
        for n in seq.item_lens.tolist():
            rows += range(pos + 1, pos + 1 + n)
            pos += n + 1
    return torch.tensor(rows, dtype=torch.long)


def _layouts(specs):
    layouts, start = [], 0
    for spec in specs:
        if isinstance(spec, int):
            layouts.append(SequenceLayout(start=start, length=spec))
            start += spec
        else:
            q, lens = spec
            n = mis_packed_len(q, lens)
            layouts.append(SequenceLayout(start=start, length=n, query_len=q, item_lens=torch.tensor(lens)))
            start += n
    return layouts, start


@pytest.mark.parametrize(
    "specs",
    [
        [7],  # one plain sequence
        [5, 9, 1],  # plain sequences of different lengths
        [(4, [3, 1, 2])],  # one MIS sequence
        [(4, [0, 3, 0])],  # empty items
        [(0, [2, 3])],  # empty query
        [6, (5, [2, 4, 1]), 3, (2, [1])],  # MIS and single-item sequences sharing a batch
        [(3, [2, 1]), (5, [1, 0, 2]), (0, [2]), (4, [3])],  # small MIS sequences: one padded bucket
        [(30, [6] * 6), (2, [1]), (2, [1])],  # one wide query, two small: a bucket per sequence
    ],
)
def test_backend_equals_dense_reference(specs):
    torch.manual_seed(0)
    layouts, T = _layouts(specs)
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    meta = backend.build_metadata(layouts)
    out = backend.forward(q, k, v, meta, scale=DIM**-0.5)
    ref, rows = _reference(q, k, v, layouts, DIM**-0.5)
    assert out.shape == (T, HQ, DIM)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[rows], ref[rows], atol=1e-5, rtol=1e-5)


def test_cpu_blocks_have_key_lengths_in_multiples_of_16():
    """MIS on CPU: the items' causal block is padded to 16 slots (padding after each item, never seen),
    the query keys to 16 under a key bias; the outputs stay exact (test above). Elsewhere no padding."""
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    meta = backend.build_metadata(_layouts([(20, [3, 17, 2])])[0])
    assert tuple(meta.items.index.shape) == (3, 32)
    bucket = meta.buckets[0]
    assert tuple(bucket.key_index.shape) == (1, 32)
    assert bucket.key_valid.sum().item() == 20
    assert torch.equal(bucket.key_bias[0, 0, 0] == 0, bucket.key_valid[0])
    from multiscore.layers.attention.padded_rows import aligned_length
    assert [aligned_length(n, torch.device("cpu")) for n in (1, 16, 17, 250)] == [16, 16, 32, 256]
    assert aligned_length(250, torch.device("cuda")) == 250
    # The models that attend through their own SDPA calls (T5, MPNet, BART) pad their chunks alike.
    from multiscore.models.sequence_chunks import sequence_chunks

    cpu = torch.device("cpu")
    (index, valid), = sequence_chunks([0, 5], [5, 20], cpu, align_keys=True)
    assert tuple(index.shape) == (2, 32) and valid.sum(1).tolist() == [5, 20]
    assert tuple(next(sequence_chunks([0, 5], [5, 20], cpu))[0].shape) == (2, 20)  # DeBERTa's own scores: no padding


def test_mis_buckets_pad_only_when_cheap():
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    similar = backend.build_metadata(_layouts([(3, [2, 1]), (5, [1, 0, 2]), (4, [3])])[0])
    assert len(similar.buckets) == 1 and similar.buckets[0].row_index.shape[0] == 3
    assert similar.buckets[0].key_bias is not None  # queries of 3, 5, 4 tokens padded to 5
    lopsided = backend.build_metadata(_layouts([(30, [6] * 6), (2, [1]), (2, [1])])[0])
    assert [b.row_index.shape[0] for b in lopsided.buckets] == [1, 1, 1]


@pytest.mark.parametrize("specs", [[(6, [3, 2, 4, 0, 2])], [(0, [2, 3])], [5, (3, [1, 2]), (6, [2])]])
def test_portable_path_equals_fused_kernel(monkeypatch, specs):
    """The fallback used where torch's fused CPU kernel is missing (and on GPU) gives the same rows."""
    import multiscore.layers.attention.lse_attention as lse

    torch.manual_seed(0)
    layouts, T = _layouts(specs)
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    fused = backend.forward(q, k, v, backend.build_metadata(layouts), DIM**-0.5)
    monkeypatch.setattr(lse, "_FLASH_CPU", None)
    monkeypatch.setattr(lse, "_SCORE_BUDGET", 8)  # many small chunks
    portable = backend.forward(q, k, v, backend.build_metadata(layouts), DIM**-0.5)
    rows = _read_rows(layouts)
    torch.testing.assert_close(portable[rows], fused[rows], atol=1e-5, rtol=1e-5)


def test_grouped_query_heads_on_the_portable_path_equal_repeated_heads():
    """attention_with_lse takes fewer key heads than query heads on either path."""
    from multiscore.layers.attention.lse_attention import _portable, attention_with_lse

    torch.manual_seed(0)
    q, k, v = torch.randn(3, HQ, 5, DIM), torch.randn(3, HKV, 7, DIM), torch.randn(3, HKV, 7, DIM)
    g = HQ // HKV
    mask = torch.rand(3, 1, 5, 7) > 0.3
    mask[..., 0] = True
    for kwargs in ({"causal": True}, {"causal": False, "mask": mask}, {"causal": False, "softcap": 5.0}):
        o, lse = attention_with_lse(q, k, v, scale=0.3, **kwargs)
        o_ref, lse_ref = _portable(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), scale=0.3, **kwargs)
        assert o.shape == (3, HQ, 5, DIM) and lse.shape == (3, HQ, 5)
        torch.testing.assert_close(o, o_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(lse, lse_ref, atol=1e-5, rtol=1e-5)


def test_padded_row_helpers_equal_advanced_indexing():
    from multiscore.layers.attention.padded_rows import block_lse_rows, block_rows, gather_block, valid_positions

    torch.manual_seed(0)
    x = torch.randn(20, HQ, DIM)
    index = torch.randint(0, 20, (3, 6))
    valid = torch.arange(6)[None, :] < torch.tensor([6, 2, 4])[:, None]
    assert valid_positions(torch.ones(3, 6, dtype=torch.bool)) is None
    assert valid_positions(valid).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15]
    block = gather_block(x, index)
    assert torch.equal(block, x[index].transpose(1, 2))  # [3, HQ, 6, DIM]
    pos = valid_positions(valid)
    assert torch.equal(block_rows(block, pos), block.transpose(1, 2)[valid])
    assert torch.equal(block_rows(block, None), block.transpose(1, 2).reshape(18, HQ, DIM))
    contiguous = block.contiguous()  # [b, H, L, D] memory (the portable path's output): copied, same rows
    assert torch.equal(block_rows(contiguous, pos), block.transpose(1, 2)[valid])
    lse = torch.randn(3, HQ, 6)
    assert torch.equal(block_lse_rows(lse, pos), lse.transpose(1, 2)[valid])


def test_registry_names_and_unknown_backend():
    with pytest.raises(ValueError, match="unknown attention backend"):
        get_backend_class("nope")


def test_flashinfer_is_imported_only_when_chosen():
    import subprocess
    import sys

    code = (
        "import sys, multiscore, multiscore.layers.attention as a;"
        "a.get_backend_class('torch'); print('flashinfer' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("causal", [True, False])
def test_many_plain_sequences_in_length_sorted_chunks(causal):
    """More sequences than one SDPA call takes (16), of mixed lengths: causal or bidirectional
    (encoders), each sequence sees exactly its own tokens. Runs of _SOLO_RUN_LEN (64) tokens or more
    in a call of mixed lengths get a call each; shorter ones share calls. On CPU every call's length
    is padded to a multiple of 16 keys (the flash kernel's fast lengths): a causal call needs no mask
    for that (the padding follows each run), a bidirectional one hides the padded keys; a run that
    is already aligned is read in place."""
    torch.manual_seed(0)
    lens = [1 + (i * 7) % 13 for i in range(150)] + [63, 64, 90, 130, 130]
    layouts, T = _layouts(lens)
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    meta = backend.build_metadata(layouts, causal=causal)
    assert len(meta.runs) == 10 + 4 and all(chunk.causal is causal for chunk in meta.runs)  # ceil(151 / 16), then 4 alone
    assert [tuple(chunk.index.shape) for chunk in meta.runs[-4:]] == [(1, 64), (1, 96), (1, 144), (1, 144)]
    assert all(chunk.index.shape[1] % 16 == 0 for chunk in meta.runs)
    assert [chunk.contiguous_start is not None for chunk in meta.runs[-4:]] == [True, False, False, False]
    if causal:
        assert all(chunk.mask is None for chunk in meta.runs)
    else:
        assert [chunk.mask is None for chunk in meta.runs[-4:]] == [True, False, False, False]
        assert all(torch.equal(chunk.mask[:, 0, 0], chunk.key_valid) for chunk in meta.runs[-3:])
    out = backend.forward(q, k, v, meta, scale=DIM**-0.5)
    for seq in layouts:
        sl = slice(seq.start, seq.start + seq.length)
        qs, ks, vs = (x[sl].transpose(0, 1) for x in (q, k, v))  # [H, n, D]
        ks, vs = ks.repeat_interleave(HQ // HKV, 0), vs.repeat_interleave(HQ // HKV, 0)
        expected = torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, is_causal=causal).transpose(0, 1)
        torch.testing.assert_close(out[sl], expected, atol=1e-5, rtol=1e-5)


def _assert_sequence_attends(out, q, k, v, seq, visible):
    """``out``'s rows of ``seq`` = dense attention over its own rows with ``visible`` [n, n] (True: attended)."""
    sl = slice(seq.start, seq.start + seq.length)
    qs, ks, vs = (x[sl].transpose(0, 1) for x in (q, k, v))  # [H, n, D]
    ks, vs = ks.repeat_interleave(HQ // HKV, 0), vs.repeat_interleave(HQ // HKV, 0)
    expected = torch.nn.functional.scaled_dot_product_attention(qs, ks, vs, attn_mask=visible).transpose(0, 1)
    torch.testing.assert_close(out[sl], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
def test_sliding_window_on_plain_sequences_equals_a_dense_band(causal):
    """Causal: keys p - 3 .. p; bidirectional (EmbeddingGemma, ModernBERT): keys with |p - k| < 4.
    Sequences shorter than, as long as and longer than the window, padded together."""
    torch.manual_seed(1)
    window = 4
    layouts, T = _layouts([1, 3, 4, 5, 9, 12])
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    out = backend.forward(q, k, v, backend.build_metadata(layouts, causal=causal), scale=DIM**-0.5, window=window)
    for seq in layouts:
        i = torch.arange(seq.length)
        diff = i[:, None] - i[None, :]
        band = (diff >= 0) & (diff < window) if causal else diff.abs() < window
        _assert_sequence_attends(out, q, k, v, seq, band)


def test_bidirectional_window_with_a_global_first_key():
    """Longformer: keys with |p - k| < 4, and each sequence's first key seen from everywhere; reading only some
    rows gives those rows of the full pass. Causal or MIS batches refuse it."""
    torch.manual_seed(1)
    window = 4
    layouts, T = _layouts([1, 3, 4, 5, 9, 12])
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    metadata = backend.build_metadata(layouts, causal=False)
    out = backend.forward(q, k, v, metadata, scale=DIM**-0.5, window=window, first_key_global=True)
    for seq in layouts:
        i = torch.arange(seq.length)
        visible = ((i[:, None] - i[None, :]).abs() < window) | (i[None, :] == 0)
        _assert_sequence_attends(out, q, k, v, seq, visible)
    rows = torch.tensor([layouts[-1].start + 11, layouts[4].start + 8, 0])
    read = backend.forward(q, k, v, metadata, scale=DIM**-0.5, window=window, first_key_global=True, rows=rows)
    torch.testing.assert_close(read, out[rows])
    mis = backend.build_metadata([SequenceLayout(start=0, length=7, query_len=3, item_lens=torch.tensor([2]))])
    with pytest.raises(ValueError, match="bidirectional runs only"):
        backend.forward(q[:7], k[:7], v[:7], mis, scale=1.0, window=window, first_key_global=True)


@pytest.mark.parametrize("window", [None, 3])
def test_key_limit_hides_the_tail_from_every_token(window):
    """ColBERT's query expansion (SequenceLayout.key_len): in a bidirectional sequence every token,
    the tail's included, attends to the first key_len tokens only. Sequences with and without a
    limit, of equal and of different lengths, share the calls; with a ModernBERT-style window too."""
    torch.manual_seed(2)
    lens, key_lens = [8, 8, 5, 8, 12], [5, None, 5, 8, 3]
    layouts, start = [], 0
    for n, key_len in zip(lens, key_lens):
        layouts.append(SequenceLayout(start=start, length=n, key_len=key_len))
        start += n
    q, k, v = torch.randn(start, HQ, DIM), torch.randn(start, HKV, DIM), torch.randn(start, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    out = backend.forward(q, k, v, backend.build_metadata(layouts, causal=False), scale=DIM**-0.5, window=window)
    for seq in layouts:
        i = torch.arange(seq.length)
        visible = (i[None, :] < (seq.key_len or seq.length)).expand(seq.length, -1)  # [n, n]
        if window is not None:
            visible = visible & ((i[:, None] - i[None, :]).abs() < window)
        _assert_sequence_attends(out, q, k, v, seq, visible)


def test_key_limit_is_refused_where_it_has_no_meaning():
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    with pytest.raises(ValueError, match="plain bidirectional sequences only"):
        backend.build_metadata([SequenceLayout(start=0, length=4, key_len=2)], causal=True)


def _scoring_reads(layouts, first_token=False):
    """The rows a scoring pass reads: each plain sequence's last (or first) token; each MIS item's
    last token, or its query's last token when the item is empty."""
    rows = []
    for seq in layouts:
        if seq.query_len is None:
            rows.append(seq.start if first_token else seq.start + seq.length - 1)
            continue
        pos = seq.start + seq.query_len
        for n in seq.item_lens.tolist():
            rows.append(pos + n if n else seq.start + seq.query_len - 1)
            pos += n + 1
    return torch.tensor(sorted(set(rows)), dtype=torch.long)


_PLAIN_READS = [[7], [5, 9, 1, 30, 30, 70]]
_MIS_READS = [
    [(4, [3, 1, 2])],
    [(4, [0, 3, 0])],  # empty items read the query's last token
    [6, (5, [2, 4, 1]), 3, (2, [1])],
    [(3, [2, 1]), (5, [1, 0, 2]), (4, [3])],  # one padded bucket of three sequences
    [(30, [6] * 6), (2, [1]), (2, [1])],  # a bucket per sequence
]


@pytest.mark.parametrize("specs, causal", [(s, c) for s in _PLAIN_READS for c in (True, False)]
                         + [(s, True) for s in _MIS_READS])
def test_read_rows_equal_the_full_pass_at_those_rows(specs, causal):
    """A last layer's attention for the read rows only (read_rows.py) = every row's, then those rows."""
    from multiscore.layers.attention.read_rows import row_plan

    torch.manual_seed(0)
    layouts, T = _layouts(specs)
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    meta = backend.build_metadata(layouts, causal=causal)
    full = backend.forward(q, k, v, meta, scale=DIM**-0.5)
    for rows in (_scoring_reads(layouts), _scoring_reads(layouts, first_token=True)):
        assert row_plan(meta, rows, T) is not None
        out = backend.forward(q, k, v, meta, scale=DIM**-0.5, rows=rows)
        assert out.shape == (len(rows), HQ, DIM)
        torch.testing.assert_close(out, full[rows], atol=1e-5, rtol=1e-5)


def test_read_rows_outside_the_plan_take_the_full_pass():
    """Two reads in one run (two empty items both read their query's last token), or a delimiter row:
    no plan, and the rows are still right."""
    from multiscore.layers.attention.read_rows import row_plan

    torch.manual_seed(0)
    layouts, T = _layouts([9, (3, [2, 2])])  # the MIS sequence starts at row 9: query 9..11, delimiter 12
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    meta = backend.build_metadata(layouts)
    full = backend.forward(q, k, v, meta, scale=DIM**-0.5)
    for rows in (torch.tensor([3, 8]), torch.tensor([11, 11]), torch.tensor([8, 12])):
        assert row_plan(meta, rows, T) is None
        torch.testing.assert_close(backend.forward(q, k, v, meta, scale=DIM**-0.5, rows=rows), full[rows])


@pytest.mark.parametrize("window, plan_used", [(200, True), (128, True), (70, False), (4, False)])
def test_read_rows_under_a_sliding_window(monkeypatch, window, plan_used):
    """A window no sequence outgrows hides nothing, so the read rows keep their own path (Gemma 4's
    KV-sharing layers, a sliding last layer); one that hides keys takes the full pass. Both equal the
    full pass at those rows. The longest run here is 71 tokens (its call padded to fewer than 128
    rows); the MIS rows sit at positions < 10."""
    from multiscore.layers.attention import torch_backend
    from multiscore.layers.attention.read_rows import attend_rows

    calls = []
    monkeypatch.setattr(torch_backend, "attend_rows", lambda *a: calls.append(1) or attend_rows(*a))
    torch.manual_seed(0)
    layouts, T = _layouts([5, 71, (4, [3, 0, 2])])
    q, k, v = torch.randn(T, HQ, DIM), torch.randn(T, HKV, DIM), torch.randn(T, HKV, DIM)
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, HQ, HKV, DIM)
    meta = backend.build_metadata(layouts)
    rows = _scoring_reads(layouts)
    full = backend.forward(q, k, v, meta, scale=DIM**-0.5, window=window)
    out = backend.forward(q, k, v, meta, scale=DIM**-0.5, window=window, rows=rows)
    torch.testing.assert_close(out, full[rows], atol=1e-5, rtol=1e-5)
    assert bool(calls) == plan_used
    if not plan_used:  # the window matters here: without it the rows differ
        assert (backend.forward(q, k, v, meta, scale=DIM**-0.5, rows=rows) - out).abs().max() > 1e-3
