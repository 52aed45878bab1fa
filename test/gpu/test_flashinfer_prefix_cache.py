"""GPU checks of the FlashInfer backend reading cached prefixes (marked ``gpu``: skipped without
CUDA; each test also skips without flashinfer). The CPU twin is test/unit/layers/test_flashinfer_cached_prefix.py,
which runs the same comparisons through the stand-in of test/fake_flashinfer.py.

- Kernels: sequences of hundreds of tokens with cached prefixes (partial and full hits, MIS and
  plain, GQA, head_dim 128), so FlashInfer's tiles and its multi-item skipping of KV tiles (offset by
  ``kv_len - qo_len``) are crossed: the paged wrapper in bf16 against the torch backend in fp32 on
  the same bf16 inputs, without any cache: |diff| <= 2e-2 (bf16 output rounding plus accumulation
  order; the values are O(1)).
- The worker, tiny checkpoints (head_dim 128), bf16, on the scores (cold, warm, a partial hit):
  each backend with the cache = the same backend without it, |diff| <= 2e-2 (cached keys were
  computed in another batch, whose bf16 matmuls may round differently; through the CPU stand-in
  the difference is 0); and FlashInfer with the cache vs the torch backend with it differ by no
  more than the two backends without it, + 2 · 2e-2. Not a fixed bound: two attention kernels in
  bf16 differ by a few ulps of the largest activations (the tiny classifiers' logits reach ~4,
  where a bf16 ulp is 1/64; 0.07 was seen between the backends through the stand-in on CPU, with
  or without the cache), which test_flashinfer_backend.py judges; here the cache must not widen it.
"""

from __future__ import annotations

import pytest
import torch

from multiscore.layers.attention.base import SequenceLayout

pytestmark = pytest.mark.gpu

BF16_ATOL = 2e-2
HQ, HKV, DIM = 8, 2, 128  # head_dim 128: the kernels test_gpu_backends.py already compiled
SCALE = DIM**-0.5
FLASHINFER_SHAPE = {"hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 2, "num_key_value_heads": 1,
                    "head_dim": 128}  # as test_gpu_backends.SHAPES: no extra JIT compile


def _mis(start: int, query_len: int, item_lens: list[int]) -> SequenceLayout:
    length = query_len + sum(item_lens) + len(item_lens) + 1
    return SequenceLayout(start, length, query_len, torch.tensor(item_lens, dtype=torch.long))


def _batch():
    """Whole sequences and, per sequence, the tokens the cache holds (0: a miss)."""
    seqs, cached, start = [], [], 0
    gen = torch.Generator().manual_seed(0)
    for kind, query_len, n_items, hit in [("mis", 300, 20, 299), ("mis", 200, 40, 77), ("plain", 500, 0, 130),
                                          ("mis", 150, 8, 0), ("plain", 90, 0, 89), ("mis", 700, 3, 640)]:
        if kind == "mis":
            seq = _mis(start, query_len, torch.randint(0, 60, (n_items,), generator=gen).tolist())
        else:
            seq = SequenceLayout(start, query_len)
        seqs.append(seq)
        cached.append(hit)
        start += seq.length
    return seqs, cached


def _with_cache(full, cached):
    """-> (layouts with cached prefixes, rows kept of the full batch, cached rows of the full batch)."""
    layouts, kept, cached_rows = [], [], []
    start = cached_start = 0
    for seq, p in zip(full, cached):
        query_len = None if seq.query_len is None else seq.query_len - p
        layouts.append(SequenceLayout(start, seq.length - p, query_len, seq.item_lens, cached_len=p, cached_start=cached_start))
        cached_rows.append(torch.arange(seq.start, seq.start + p))
        kept.append(torch.arange(seq.start + p, seq.start + seq.length))
        start += seq.length - p
        cached_start += p
    return layouts, torch.cat(kept).cuda(), torch.cat(cached_rows).cuda()


def test_paged_kernels_read_cached_prefixes():
    flashinfer = pytest.importorskip("flashinfer")
    from multiscore.layers.attention.flashinfer_backend import FlashInferKernels
    from multiscore.layers.attention.flashinfer_metadata import build_plan_inputs
    from multiscore.layers.attention.torch_backend import TorchAttentionBackend

    device = torch.device("cuda")
    full, cached = _batch()
    rows = full[-1].start + full[-1].length
    gen = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(rows, h, DIM, generator=gen, device=device).bfloat16() for h in (HQ, HKV, HKV))
    reference = TorchAttentionBackend(device, torch.float32, HQ, HKV, DIM)
    expected = reference.forward(q.float(), k.float(), v.float(), reference.build_metadata(full), SCALE)
    for name, hits in (("cached", cached), ("misses only", [0] * len(full))):
        layouts, kept, cached_rows = _with_cache(full, hits)
        kernels = FlashInferKernels(flashinfer, device, torch.bfloat16, HQ, HKV, DIM)
        inputs = build_plan_inputs(layouts)
        kernels.plan(inputs, SCALE)
        prefix_kv = (k[cached_rows], v[cached_rows]) if inputs.has_cached_prefix else None
        got = kernels.run(q[kept], k[kept], v[kept], inputs, prefix_kv)
        diff = (got.float() - expected[kept]).abs().max().item()
        assert diff <= BF16_ATOL, f"{name}: max |diff| {diff}"


LABELS = [5, 9, 42]


def _worker(path, **kw):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.model_executor.model_worker import ModelWorker
    from multiscore.server_args import ServerArgs

    args = ServerArgs(model_path=str(path), device="cuda", dtype="bfloat16", **kw)
    return ModelWorker(args, ModelConfig.from_server_args(args))


@pytest.mark.parametrize("arch, head", [("qwen3", "causal"), ("qwen2", "seqcls"), ("llama", "seqcls")])
@pytest.mark.parametrize("mis", [False, True], ids=["single-item", "mis"])
def test_cached_queries_on_flashinfer_score_as_uncached(tiny_model, arch, head, mis):
    pytest.importorskip("flashinfer")
    from multiscore.messages import PoolingParams, TokenizedScoreRequest
    from worker_batches import mixed_inputs, run_requests

    path = tiny_model(arch, head, **FLASHINFER_SHAPE)
    labels = LABELS if head == "causal" else None
    fi = _worker(path, attention_backend="flashinfer")
    assert fi.prefix_cache is not None, fi.prefix_cache_reason
    fi_off = _worker(path, attention_backend="flashinfer", disable_radix_cache=True)
    torch_on = _worker(path, attention_backend="torch")
    torch_off = _worker(path, attention_backend="torch", disable_radix_cache=True)
    query, items = mixed_inputs(seed=1, n_items=6)

    def request(rid, query, items):
        return TokenizedScoreRequest(rid=rid, query_ids=query, items_ids=items,
                                     pooling=PoolingParams(label_token_ids=labels), mis=mis)

    # "tail" shares 5 of its 7 query tokens with the others: a partial hit once they are cached.
    requests = [request("a", query, items), request("one", query, items[:1]), request("tail", query[:5] + [77, 78], items)]
    fi_expected, torch_expected = run_requests(fi_off, requests), run_requests(torch_off, requests)
    for _ in range(2):  # cold, then warm (all but the last query token cached)
        fi_got, torch_got = run_requests(fi, requests), run_requests(torch_on, requests)
        assert fi_got.keys() == torch_got.keys() == fi_expected.keys()
        for rid in fi_got:
            torch.testing.assert_close(fi_got[rid], fi_expected[rid], atol=BF16_ATOL, rtol=0)
            torch.testing.assert_close(torch_got[rid], torch_expected[rid], atol=BF16_ATOL, rtol=0)
            gap = (fi_got[rid] - torch_got[rid]).abs().max().item()
            uncached_gap = (fi_expected[rid] - torch_expected[rid]).abs().max().item()
            assert gap <= uncached_gap + 2 * BF16_ATOL, f"{rid}: FlashInfer vs torch, cached {gap}, uncached {uncached_gap}"
    assert fi.prefix_cache.stats.hits > 0 and fi.prefix_cache.stats.hit_tokens > 0
