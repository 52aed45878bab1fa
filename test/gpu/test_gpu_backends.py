"""GPU checks of both attention backends on every architecture, in process (one ModelWorker each).

- FlashInfer vs the torch backend on the same batch (every single-item sequence of a query and its
  items plus one MIS sequence of them all), in bf16 and fp16: |diff| <= REL_TOL[dtype] x the largest
  |score| (at least 1): bf16 5 %, fp16 0.5 %. Both backends run the same 16-bit matmuls; only the
  attention kernels differ, so the difference is 16-bit rounding carried through two layers of
  large random weights. Measured through the CPU stand-in (attention in fp32, rounded once): up to
  2.6 % in bf16 and 0.26 % in fp16, about the torch backend's own 16-bit error against fp32 (up to
  5.8 % in bf16, 0.3 % in fp16); a wrong mask moves scores by tens of percent.
- MIS = single-item under FlashInfer, same tolerances (the items see the query through different
  kernels: the paged MIS mask vs plain causal prefill).
- Every architecture of ``make_tiny_model``: the decoders (Gemma2 only on the torch backend: its
  soft-capped scores are refused by FlashInfer) and the encoders (FlashInfer's ragged wrapper,
  bidirectional).
- The torch backend's CUDA path (the portable log-sum-exp attention; the fused kernel is CPU-only)
  vs transformers on CPU, both in fp32: |diff| <= FP32_ATOL (summation order only).

The checkpoints use head_dim 128 (hidden 256, 2 heads, 1 KV head for decoders): FlashInfer compiles
64/128/256/512 only, and 128 is Qwen3-0.6B's, so these tests reuse the kernels that
benchmark/bench_serving.py --gpu-sglang and scripts/gpu_check.py compile (bf16 and fp16).

Without CUDA the ``gpu`` tests skip; ``test_*_through_the_stand_in`` run the same comparisons on CPU
with test/fake_flashinfer.py, which checks the test code and the tolerances, not the kernels.
"""

from __future__ import annotations

import sys

import pytest
import torch

from hf_reference import assert_scores_close, hf_scores
from make_tiny_model import ARCHS, ENCODER_ARCHS
from worker_batches import mixed_inputs, score_both_ways

REL_TOL = {"bfloat16": 5e-2, "float16": 5e-3}  # of the largest |score|, at least 1 (module docstring)
FP32_ATOL = 1e-3
SOFTCAP_ARCHS = ("gemma2",)  # FlashInfer refuses soft-capping (flashinfer_backend.forward)
DECODERS = [a for a in ARCHS if a not in SOFTCAP_ARCHS]
HD128 = dict(hidden_size=256, intermediate_size=512, num_attention_heads=2)
SHAPES = {
    **{arch: dict(HD128, num_key_value_heads=1, head_dim=128) for arch in ARCHS},
    **{arch: HD128 for arch in ENCODER_ARCHS},
    "distilbert": dict(dim=256, hidden_dim=512, n_heads=2),  # its own size names
}
# FlashInfer ignores attention windows (the server caps the context at the window instead): here, in
# process, the windows are made wider than every sequence so that both backends compute the same thing.
SHAPES["gemma3"] = dict(SHAPES["gemma3"], sliding_window=64)
SHAPES["modernbert"] = dict(HD128, local_attention=128)
SHAPES["deberta_v2"] = dict(HD128, pooler_hidden_size=256)  # transformers' classifier reads hidden_size
LABELS = {"causal": [5, 17, 30], "seqcls": None}
PAIRS = [("what is the capital", "sacramento is the capital city"), ("who", "a big red dog"), ("x", "")]


def _worker(path, device: str, dtype: str, backend: str):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.model_executor.model_worker import ModelWorker
    from multiscore.server_args import ServerArgs

    args = ServerArgs(model_path=str(path), device=device, dtype=dtype, attention_backend=backend, compile="off",
                      disable_radix_cache=True)
    return ModelWorker(args, ModelConfig.from_server_args(args))


def _decoder_scores(path, device, dtype, backend, head):
    """-> (single-item scores, MIS scores) of one batch holding both."""
    query, items = mixed_inputs(n_items=6)
    return score_both_ways(_worker(path, device, dtype, backend), query, items, LABELS[head])


def _encoder_scores(path, device, dtype, backend):
    from transformers import AutoTokenizer

    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ScoreSequence

    tok = AutoTokenizer.from_pretrained(path)
    seqs = []
    for i, (a, b) in enumerate(PAIRS):
        enc = tok(a, b) if b else tok(a)
        seqs.append(ScoreSequence("r", enc["input_ids"], i, 1, PoolingParams(), token_type_ids=enc.get("token_type_ids")))
    return [row for out in _worker(path, device, dtype, backend).forward(seqs) for row in out.tolist()]


def atol_for(dtype: str, scores: list[list[float]]) -> float:
    return REL_TOL[dtype] * max([1.0] + [abs(x) for row in scores for x in row])


def check_flashinfer_matches_torch(tiny_model, arch, dtype, device, head="seqcls"):
    path = tiny_model(arch, head, **SHAPES[arch])
    if arch in ENCODER_ARCHS:
        expected = _encoder_scores(path, device, dtype, "torch")
        assert_scores_close(_encoder_scores(path, device, dtype, "flashinfer"), expected, atol_for(dtype, expected))
        return
    fi_single, fi_mis = _decoder_scores(path, device, dtype, "flashinfer", head)
    torch_single, torch_mis = _decoder_scores(path, device, dtype, "torch", head)
    atol = atol_for(dtype, torch_single)
    assert_scores_close(fi_single, torch_single, atol)
    assert_scores_close(fi_mis, torch_mis, atol)
    assert_scores_close(fi_mis, fi_single, atol)  # MIS = single-item under FlashInfer


@pytest.fixture
def flashinfer_on_cpu(monkeypatch):
    """The real backend class with the stand-in as ``flashinfer`` and the CUDA/dtype checks lifted."""
    import fake_flashinfer
    from multiscore.layers.attention import flashinfer_backend

    monkeypatch.setitem(sys.modules, "flashinfer", fake_flashinfer)
    monkeypatch.setattr(flashinfer_backend, "check_supported", lambda *args: None)


# ---- on a GPU ---------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("arch", DECODERS + list(ENCODER_ARCHS))
def test_flashinfer_matches_torch_backend_every_arch(tiny_model, arch, dtype):
    pytest.importorskip("flashinfer")
    check_flashinfer_matches_torch(tiny_model, arch, dtype, "cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_flashinfer_matches_torch_backend_causal_lm(tiny_model, dtype):
    pytest.importorskip("flashinfer")
    check_flashinfer_matches_torch(tiny_model, "qwen3", dtype, "cuda", head="causal")


@pytest.mark.gpu
@pytest.mark.parametrize("arch", ARCHS)
def test_torch_backend_cuda_path_equals_transformers(tiny_model, arch):
    path = tiny_model(arch, "seqcls")
    query, items = mixed_inputs(n_items=6)
    single, mis = score_both_ways(_worker(path, "cuda", "float32", "torch"), query, items, None)
    ref = hf_scores(path, query, items)
    assert_scores_close(single, ref, FP32_ATOL)
    assert_scores_close(mis, ref, FP32_ATOL)


@pytest.mark.gpu
@pytest.mark.parametrize("arch", ENCODER_ARCHS)
def test_torch_backend_cuda_path_equals_transformers_encoders(tiny_model, arch):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tiny_model(arch, "seqcls", num_labels=2)
    tok = AutoTokenizer.from_pretrained(path)
    ref = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    expected = []
    for a, b in PAIRS:
        enc = tok(a, b, return_tensors="pt") if b else tok(a, return_tensors="pt")
        with torch.no_grad():
            expected += ref(**enc).logits.tolist()
    assert_scores_close(_encoder_scores(path, "cuda", "float32", "torch"), expected, FP32_ATOL)


@pytest.mark.gpu
def test_flashinfer_refuses_soft_capping_on_cuda(tiny_model):
    pytest.importorskip("flashinfer")
    with pytest.raises(ValueError, match="soft-caps its attention scores"):
        _worker(tiny_model("gemma2", "seqcls", **SHAPES["gemma2"]), "cuda", "bfloat16", "flashinfer")


# ---- the same comparisons on CPU, through the stand-in (a few archs: the suite's time) ---------

@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("arch", ["qwen3", "gemma3", "bert"])
def test_flashinfer_matches_torch_backend_through_the_stand_in(flashinfer_on_cpu, tiny_model, arch, dtype):
    check_flashinfer_matches_torch(tiny_model, arch, dtype, "cpu")
