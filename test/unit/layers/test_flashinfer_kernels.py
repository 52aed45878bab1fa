"""The FlashInfer backend's calls, on CPU, through the stand-in of test/fake_flashinfer.py.

The stand-in follows FlashInfer's source (which wrapper applies the multi-item mask, the
plan's argument order and dtypes), so these tests check multiscore's side of the contract: the
wrapper chosen per batch, the plan arguments, the one-row pages, one plan per batch, and the
scores of every architecture against transformers. The kernels themselves run only in test/gpu/.
"""

from __future__ import annotations

import sys

import pytest
import torch

import fake_flashinfer
from hf_reference import assert_scores_close, hf_scores
from multiscore.layers.attention import flashinfer_backend
from multiscore.layers.attention.base import SequenceLayout
from multiscore.layers.attention.flashinfer_backend import FlashInferKernels, TorchFallbackMetadata, check_supported
from multiscore.layers.attention.flashinfer_metadata import build_plan_inputs
from multiscore.layers.attention.torch_backend import TorchAttentionBackend
from test_flashinfer_metadata import mis
from worker_batches import mixed_inputs, score_both_ways
from worker_batches import worker as build_worker

HQ, HKV, DIM = 4, 2, 16
SCALE = DIM**-0.5
CPU = torch.device("cpu")

BATCHES = {
    "plain": [SequenceLayout(0, 7), SequenceLayout(7, 3)],
    "mis": [mis(0, 4, [3, 2, 4])],
    "mixed": [mis(0, 4, [3, 2, 4]), SequenceLayout(17, 6), mis(23, 2, [1, 0]), mis(29, 5, [0, 6, 1])],
}


def _qkv(layouts, seed=0):
    rows = layouts[-1].start + layouts[-1].length
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, HQ, DIM, generator=gen), torch.randn(rows, HKV, DIM, generator=gen),
            torch.randn(rows, HKV, DIM, generator=gen))


def _kernels() -> FlashInferKernels:
    return FlashInferKernels(fake_flashinfer, CPU, torch.float32, HQ, HKV, DIM)


def _torch_attention(layouts, q, k, v):
    backend = TorchAttentionBackend(CPU, torch.float32, HQ, HKV, DIM)
    return backend.forward(q, k, v, backend.build_metadata(layouts), SCALE)


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_kernels_equal_the_torch_backend(name):
    layouts = BATCHES[name]
    q, k, v = _qkv(layouts)
    kernels, inputs = _kernels(), build_plan_inputs(layouts)
    kernels.plan(inputs, SCALE)
    torch.testing.assert_close(kernels.run(q, k, v, inputs), _torch_attention(layouts, q, k, v), atol=1e-5, rtol=1e-5)


def test_mis_batches_run_on_the_paged_wrapper_and_plain_ones_on_ragged_both_fa2():
    kernels = _kernels()
    assert kernels.paged.backend == kernels.ragged.backend == "fa2"  # one compiled module per dtype
    kernels.plan(build_plan_inputs(BATCHES["mixed"]), SCALE)
    assert kernels.paged.plan_calls == [dict(batch=4, causal=True, mis=True, token_pos_in_items_len=13)]
    assert kernels.paged.page_size == 1 and kernels.paged.kv_lens == [17, 6, 6, 16]
    assert kernels.ragged.plan_calls == []
    kernels.plan(build_plan_inputs(BATCHES["plain"]), SCALE)
    assert kernels.ragged.plan_calls == [dict(batch=2, causal=True, mis=False, token_pos_in_items_len=0)]


def test_the_ragged_wrapper_would_let_items_see_each_other():
    """Why MIS goes to the paged wrapper: planned the same way, the ragged one ignores the MIS mask."""
    layouts = BATCHES["mis"]
    q, k, v = _qkv(layouts)
    inputs = build_plan_inputs(layouts)
    ragged = fake_flashinfer.BatchPrefillWithRaggedKVCacheWrapper(torch.empty(0))
    ragged.plan(inputs.indptr, inputs.indptr, HQ, HKV, DIM, causal=True, sm_scale=SCALE, q_data_type=torch.float32,
                prefix_len_ptr=inputs.prefix_len, token_pos_in_items_ptr=inputs.token_pos_in_items,
                token_pos_in_items_len=inputs.token_pos_in_items_len, max_item_len_ptr=inputs.max_item_len)
    wrong, right = ragged.run(q, k, v), _torch_attention(layouts, q, k, v)
    second_item = slice(4 + 1 + 3 + 1, 4 + 1 + 3 + 1 + 2)  # query, D, item 1, D, then item 2
    assert (wrong[second_item] - right[second_item]).abs().max() > 1e-2


@pytest.fixture
def flashinfer_on_cpu(monkeypatch):
    """The real backend class, with the stand-in as ``flashinfer`` and the CUDA/dtype checks lifted."""
    monkeypatch.setitem(sys.modules, "flashinfer", fake_flashinfer)
    monkeypatch.setattr(flashinfer_backend, "check_supported", lambda *args: None)


@pytest.mark.parametrize("arch", ["qwen3", "qwen2", "llama"])
@pytest.mark.parametrize("head", ["seqcls", "causal"])
def test_model_worker_on_the_flashinfer_backend_equals_transformers(flashinfer_on_cpu, tiny_model, arch, head):
    path = tiny_model(arch, head)
    worker = build_worker(path, attention_backend="flashinfer")
    assert worker.backend_name == "flashinfer"
    query, items = mixed_inputs()
    labels = [5, 17, 30] if head == "causal" else None
    single, mis_scores = score_both_ways(worker, query, items, labels)  # one batch: singles + one MIS
    ref = hf_scores(path, query, items, labels)
    assert_scores_close(single, ref)
    assert_scores_close(mis_scores, ref)
    assert len(worker.backend.kernels.paged.plan_calls) == 1  # planned once, used by both layers


def test_empty_query_mis_falls_back_to_torch(flashinfer_on_cpu):
    backend = flashinfer_backend.FlashInferAttentionBackend(CPU, torch.float32, HQ, HKV, DIM)
    layouts = [mis(0, 0, [2, 3])]
    metadata = backend.build_metadata(layouts)
    assert isinstance(metadata, TorchFallbackMetadata)
    q, k, v = _qkv(layouts)
    torch.testing.assert_close(backend.forward(q, k, v, metadata, SCALE), _torch_attention(layouts, q, k, v))
    assert backend.kernels.paged.plan_calls == [] and backend.kernels.ragged.plan_calls == []


@pytest.mark.parametrize(
    "device, dtype, head_dim, message",
    [
        ("cpu", torch.bfloat16, 64, "needs a CUDA device"),
        ("cuda", torch.float32, 64, "needs --dtype bfloat16 or float16"),
        ("cuda", torch.bfloat16, 16, r"supports head_dim \(64, 128, 256\), this model has 16"),
        ("cuda", torch.bfloat16, 512, r"supports head_dim \(64, 128, 256\), this model has 512"),
    ],
)
def test_unsupported_setups_are_refused_with_a_reason(device, dtype, head_dim, message):
    with pytest.raises(ValueError, match=message):
        check_supported(torch.device(device), dtype, head_dim)


def test_the_registry_imports_the_backend_without_cuda_and_keeps_torch_as_default():
    from multiscore.layers.attention import default_backend_name, get_backend_class

    assert get_backend_class("flashinfer") is flashinfer_backend.FlashInferAttentionBackend
    assert default_backend_name("cpu") == "torch"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        get_backend_class("flashinfer")(CPU, torch.float32, num_heads=HQ, num_kv_heads=HKV, head_dim=DIM)


def test_bidirectional_batches_run_on_the_ragged_wrapper_without_the_causal_mask():
    layouts = BATCHES["plain"]
    q, k, v = _qkv(layouts)
    kernels, inputs = _kernels(), build_plan_inputs(layouts, causal=False)
    kernels.plan(inputs, SCALE)
    assert kernels.ragged.plan_calls == [dict(batch=2, causal=False, mis=False, token_pos_in_items_len=0)]
    backend = TorchAttentionBackend(CPU, torch.float32, HQ, HKV, DIM)
    expected = backend.forward(q, k, v, backend.build_metadata(layouts, causal=False), SCALE)
    torch.testing.assert_close(kernels.run(q, k, v, inputs), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="MIS sequences need causal attention"):
        build_plan_inputs(BATCHES["mis"], causal=False)


@pytest.mark.parametrize("arch", ["bert", "xlm_roberta"])
def test_encoders_run_on_the_flashinfer_backend_too(flashinfer_on_cpu, tiny_model, arch):
    """Encoders attend through the same backend interface: FlashInfer's ragged wrapper, non-causal."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ScoreSequence

    path = tiny_model(arch, "seqcls", num_labels=2)
    worker = build_worker(path, attention_backend="flashinfer")
    tok = AutoTokenizer.from_pretrained(path)
    pairs = [("what is the capital", "sacramento is the capital city"), ("who", "a big red dog")]
    encoded = [tok(a, b) for a, b in pairs]
    seqs = [
        ScoreSequence("r", enc["input_ids"], i, 1, PoolingParams(), token_type_ids=enc.get("token_type_ids"))
        for i, enc in enumerate(encoded)
    ]
    out = worker.forward(seqs)
    ref = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    for enc, logits in zip(encoded, out):
        with torch.no_grad():
            expected = ref(**{k: torch.tensor([v]) for k, v in enc.items()}).logits
        torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    assert worker.backend.kernels.ragged.plan_calls[-1]["causal"] is False
