"""GPU checks of the FlashInfer backend through the Engine (the scheduler process, as served;
marked ``gpu``: skipped without CUDA). test_gpu_backends.py covers every architecture and fp16 in
process; these run the serving path:

- FlashInfer vs the torch backend on the same request (MIS and single-item), bf16, within
  test_gpu_backends.REL_TOL of the largest |score| (both run bf16 matmuls; the attention kernels
  round differently);
- MIS vs single-item parity under FlashInfer, bf16, same tolerance;
- Qwen3 (CausalLM label probabilities and SeqCls logits) and Llama (SeqCls). Every Engine is a
  scheduler process started on the GPU (seconds each), so each (checkpoint, backend, MIS) runs once
  per session (``_scores`` is cached) and the other architectures are left to test_gpu_backends.py.

The tiny checkpoints use test_gpu_backends.SHAPES (head_dim 128: FlashInfer compiles head dims
64/128/256/512 only, and 128 shares the kernels the benchmark compiles).
"""

from __future__ import annotations

import functools

import pytest

from hf_reference import assert_scores_close, hf_tokenize
from make_tiny_model import delimiter_id
from test_gpu_backends import SHAPES, atol_for

pytestmark = pytest.mark.gpu

QUERY = "what is the capital of california"
ITEMS = ["sacramento", "los angeles is a big city", "", "the dog and the cat", "yes"]


@functools.lru_cache(maxsize=None)
def _scores(model_dir, backend: str, mis: bool, head: str):
    from multiscore import Engine

    kwargs = {"multi_item_scoring_delimiter": delimiter_id(model_dir)} if mis else {}
    labels = [5, 9, 42] if head == "causal" else None
    query_ids, items_ids = hf_tokenize(model_dir, QUERY, ITEMS)
    with Engine(str(model_dir), device="cuda", dtype="bfloat16", attention_backend=backend, **kwargs) as engine:
        return engine.score(query_ids, items_ids, label_token_ids=labels).scores


@pytest.mark.parametrize("arch, head", [("qwen3", "causal"), ("qwen3", "seqcls"), ("llama", "seqcls")])
def test_flashinfer_matches_torch_backend(tiny_model, arch, head):
    pytest.importorskip("flashinfer")
    model_dir = tiny_model(arch, head, **SHAPES[arch])
    for mis in (False, True):
        expected = _scores(model_dir, "torch", mis, head)
        assert_scores_close(_scores(model_dir, "flashinfer", mis, head), expected, atol_for("bfloat16", expected))


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_flashinfer_mis_equals_single_item(tiny_model, arch):
    pytest.importorskip("flashinfer")
    model_dir = tiny_model(arch, "seqcls", **SHAPES[arch])
    expected = _scores(model_dir, "flashinfer", False, "seqcls")
    assert_scores_close(_scores(model_dir, "flashinfer", True, "seqcls"), expected, atol_for("bfloat16", expected))
