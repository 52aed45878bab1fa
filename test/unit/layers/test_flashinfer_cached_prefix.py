"""The FlashInfer backend reading cached prefixes (the prefix cache), on CPU through the stand-in of
test/fake_flashinfer.py: with a cached prefix, FlashInfer = the torch backend = no cache at all,
single-item and MIS, partial and full hits (fp32 <= 1e-5); the plan arguments that make it so; and
the worker serving cached queries on FlashInfer. test/gpu/test_flashinfer_prefix_cache.py runs the
same comparison on the real kernels.
"""

from __future__ import annotations

import sys

import pytest
import torch

import fake_flashinfer
from multiscore.layers.attention import flashinfer_backend
from multiscore.layers.attention.base import SequenceLayout
from multiscore.layers.attention.flashinfer_backend import FlashInferKernels, TorchFallbackMetadata
from multiscore.layers.attention.flashinfer_metadata import build_plan_inputs
from multiscore.layers.attention.torch_backend import TorchAttentionBackend
from multiscore.messages import PoolingParams, TokenizedScoreRequest
from test_flashinfer_metadata import mis
from worker_batches import mixed_inputs, run_requests, worker

HQ, HKV, DIM = 4, 2, 16
SCALE = DIM**-0.5
CPU = torch.device("cpu")
ATOL = 1e-5

# Whole sequences (nothing cached) and, per sequence, how many leading tokens the cache holds.
# MIS: 2 of a 5-token query is a partial hit, 4 of 5 the runner's full hit (all but the last query
# token, which an empty item reads); plain: 3 of 7, 5 of 6. 0: a sequence that misses.
FULL = [mis(0, 5, [3, 2, 4]), SequenceLayout(18, 7), mis(25, 4, [1, 0, 2]), SequenceLayout(36, 6), mis(42, 3, [2])]
CASES = {
    "mis-partial": [2, 0, 0, 0, 0],
    "mis-full": [4, 0, 3, 0, 0],
    "plain-only": [0, 3, 0, 5, 0],
    "mixed": [2, 3, 3, 5, 0],
}


def _qkv(rows: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, HQ, DIM, generator=gen), torch.randn(rows, HKV, DIM, generator=gen),
            torch.randn(rows, HKV, DIM, generator=gen))


def _with_cache(full: list[SequenceLayout], cached: list[int]):
    """The same batch with ``cached[b]`` leading tokens of sequence b in the cache ->
    (layouts, rows kept [T'] of the full batch, cached rows [Tc] of the full batch in batch order)."""
    layouts, kept, cached_rows = [], [], []
    start = cached_start = 0
    for seq, p in zip(full, cached):
        query_len = None if seq.query_len is None else seq.query_len - p
        layouts.append(SequenceLayout(start, seq.length - p, query_len, seq.item_lens, cached_len=p, cached_start=cached_start))
        cached_rows.append(torch.arange(seq.start, seq.start + p))
        kept.append(torch.arange(seq.start + p, seq.start + seq.length))
        start += seq.length - p
        cached_start += p
    return layouts, torch.cat(kept), torch.cat(cached_rows)


def _torch(layouts, q, k, v, prefix_kv=None):
    backend = TorchAttentionBackend(CPU, torch.float32, HQ, HKV, DIM)
    return backend.forward(q, k, v, backend.build_metadata(layouts), SCALE, prefix_kv=prefix_kv)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cached_prefix_equals_torch_and_no_cache(case):
    layouts, kept, cached_rows = _with_cache(FULL, CASES[case])
    q, k, v = _qkv(FULL[-1].start + FULL[-1].length)
    uncached = _torch(FULL, q, k, v)[kept]  # [T', Hq, D]: the reference
    prefix_kv = (k[cached_rows], v[cached_rows])  # [Tc, Hkv, D] each, as PrefixKV.exchange returns them
    kernels, inputs = FlashInferKernels(fake_flashinfer, CPU, torch.float32, HQ, HKV, DIM), build_plan_inputs(layouts)
    kernels.plan(inputs, SCALE)
    got = kernels.run(q[kept], k[kept], v[kept], inputs, prefix_kv)
    torch.testing.assert_close(got, uncached, atol=ATOL, rtol=0)
    torch.testing.assert_close(_torch(layouts, q[kept], k[kept], v[kept], prefix_kv), uncached, atol=ATOL, rtol=0)
    # Every cached batch runs on the paged wrapper and reads all of each sequence's keys.
    assert kernels.ragged.plan_calls == [] and len(kernels.paged.plan_calls) == 1
    assert kernels.paged.kv_lens == [s.length for s in FULL]
    assert kernels.paged.plan_calls[0]["mis"] == any(s.query_len is not None for s in layouts)


def test_plan_inputs_count_cached_tokens_as_keys():
    layouts, _, _ = _with_cache(FULL, CASES["mixed"])
    inputs = build_plan_inputs(layouts)
    t = sum(s.length for s in layouts)  # 36 rows; cached rows follow them in [batch k ; cached k]
    assert t == 36 and inputs.indptr.tolist() == [0, 16, 20, 28, 29, 36]
    assert inputs.kv_indptr.tolist() == [0, 18, 25, 36, 42, 49] and inputs.kv_pages.dtype == torch.int32
    pages = inputs.kv_pages.tolist()
    assert pages[:18] == [t, t + 1] + list(range(0, 16))  # 2 cached query tokens, then its own rows
    assert pages[18:25] == [t + 2, t + 3, t + 4] + list(range(16, 20))
    assert pages[42:] == list(range(29, 36))  # the last sequence misses: its own rows only
    # prefix_len in keys: the whole query (cached part included); a plain sequence is all prefix.
    assert inputs.prefix_len.tolist() == [5, 7, 4, 6, 3]
    assert inputs.token_pos_in_items.to(torch.int32).view(5, -1)[0, :13].tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4, 0]
    assert build_plan_inputs(FULL).kv_pages is None  # nothing cached: no page table


def test_cached_prefix_on_an_encoder_batch_is_refused():
    layouts, _, _ = _with_cache([SequenceLayout(0, 5)], [2])
    with pytest.raises(ValueError, match="cached prefixes need causal attention"):
        build_plan_inputs(layouts, causal=False)


@pytest.fixture
def flashinfer_on_cpu(monkeypatch):
    """The real backend class, with the stand-in as ``flashinfer`` and the CUDA/dtype checks lifted."""
    monkeypatch.setitem(sys.modules, "flashinfer", fake_flashinfer)
    monkeypatch.setattr(flashinfer_backend, "check_supported", lambda *args: None)


def test_a_fallback_batch_passes_the_cached_keys_to_the_torch_backend(flashinfer_on_cpu):
    """An MIS sequence with an empty query sends its batch to the torch backend, cached prefixes too."""
    full = FULL + [mis(49, 0, [2, 1])]
    layouts, kept, cached_rows = _with_cache(full, CASES["mixed"] + [0])
    q, k, v = _qkv(full[-1].start + full[-1].length, seed=1)
    backend = flashinfer_backend.FlashInferAttentionBackend(CPU, torch.float32, HQ, HKV, DIM)
    metadata = backend.build_metadata(layouts)
    assert isinstance(metadata, TorchFallbackMetadata)
    got = backend.forward(q[kept], k[kept], v[kept], metadata, SCALE, prefix_kv=(k[cached_rows], v[cached_rows]))
    torch.testing.assert_close(got, _torch(full, q, k, v)[kept], atol=ATOL, rtol=0)


def test_the_stand_in_refuses_what_flashinfer_would_misread():
    """A padding shorter than a sequence's keys past its prefix, more rows than keys, int64 pages."""
    wrapper = fake_flashinfer.BatchPrefillWithPagedKVCacheWrapper(torch.empty(0), "NHD", backend="fa2")
    one = torch.ones(1, dtype=torch.int32)
    plan = dict(causal=True, q_data_type=torch.float32)
    indptr = torch.tensor([0, 6], dtype=torch.int32)
    mis_args = dict(prefix_len_ptr=torch.tensor([2], dtype=torch.uint32), token_pos_in_items_len=3,
                    token_pos_in_items_ptr=torch.tensor([0, 1, 0], dtype=torch.uint16),
                    max_item_len_ptr=torch.tensor([1], dtype=torch.uint16))
    with pytest.raises(ValueError, match="exceed token_pos_in_items_len"):  # 4 keys past a prefix of 2
        wrapper.plan(indptr, indptr, torch.arange(6, dtype=torch.int32), one, HQ, HKV, DIM, 1, **mis_args, **plan)
    with pytest.raises(ValueError, match="must not exceed keys"):
        wrapper.plan(indptr, torch.tensor([0, 4], dtype=torch.int32), torch.arange(4, dtype=torch.int32), one,
                     HQ, HKV, DIM, 1, **plan)
    with pytest.raises(TypeError, match="paged_kv_indices must be int32"):
        wrapper.plan(indptr, indptr, torch.arange(6), one, HQ, HKV, DIM, 1, **plan)
    wrapper.plan(indptr, indptr, torch.arange(6, dtype=torch.int32), one, HQ, HKV, DIM, 1, **plan)
    q, k, v = _qkv(6)
    with pytest.raises(ValueError, match="does not match the plan"):  # k of another dtype than planned
        wrapper.run(q, (k.double().unsqueeze(1), v.double().unsqueeze(1)))


# --- the worker: FlashInfer with the prefix cache = torch with it = no cache --------------------

LABELS = [3, 9, 20]


@pytest.mark.parametrize("arch, head", [("qwen3", "causal"), ("llama", "seqcls"), ("qwen2", "seqcls")])
@pytest.mark.parametrize("mis_on", [False, True], ids=["single-item", "mis"])
def test_the_worker_on_flashinfer_reads_cached_queries(flashinfer_on_cpu, tiny_model, arch, head, mis_on):
    path = tiny_model(arch, head)
    labels = LABELS if head == "causal" else None
    fi, on, off = worker(path, attention_backend="flashinfer"), worker(path), worker(path, disable_radix_cache=True)
    assert fi.backend_name == "flashinfer" and fi.prefix_cache is not None, fi.prefix_cache_reason
    query, items = mixed_inputs(seed=1, n_items=6)

    def request(rid, query, items):
        return TokenizedScoreRequest(rid=rid, query_ids=query, items_ids=items,
                                     pooling=PoolingParams(label_token_ids=labels), mis=mis_on)

    # "tail" shares 5 of its 7 query tokens with the others: a partial hit once they are cached.
    requests = [request("a", query, items), request("one", query, items[:1]), request("tail", query[:5] + [77, 78], items)]
    expected = run_requests(off, requests)
    for _ in range(2):  # cold (queries shared within the batch), then warm (all but the last query token cached)
        for w in (fi, on):
            got = run_requests(w, requests)
            assert got.keys() == expected.keys()
            for rid in got:
                torch.testing.assert_close(got[rid], expected[rid], atol=ATOL, rtol=0)
    stats = fi.prefix_cache.stats
    assert stats.hits > 0 and stats.hit_tokens == on.prefix_cache.stats.hit_tokens
    paged = fi.backend.kernels.paged  # the warm batch read its cached keys: more keys than rows
    assert sum(paged.kv_lens) > paged.qo_indptr[-1]
