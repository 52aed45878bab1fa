"""GPU checks of the FlashInfer backend (marked ``gpu``: skipped without CUDA).

- FlashInfer vs the torch backend on the same batch (MIS and single-item), bf16: |diff| <= 2e-2
  on the scores (both run bf16 matmuls; the attention kernels accumulate differently);
- MIS vs single-item parity under FlashInfer, bf16: <= 2e-2;
- every architecture (Qwen3, Qwen2, Llama; CausalLM label probabilities and SeqCls logits).

The tiny checkpoints here use head_dim 64 (hidden 256, 4 heads): FlashInfer compiles head dims
64/128/256/512 only, and the suite's default tiny shape (head_dim 16) is refused by the backend.
"""

from __future__ import annotations

import pytest

from hf_reference import assert_scores_close, hf_tokenize
from make_tiny_model import delimiter_id

pytestmark = pytest.mark.gpu

BF16_ATOL = 2e-2
FLASHINFER_SHAPE = {"hidden_size": 256, "intermediate_size": 512, "head_dim": 64}
QUERY = "what is the capital of california"
ITEMS = ["sacramento", "los angeles is a big city", "", "the dog and the cat", "yes"]


def _scores(model_dir, backend: str, mis: bool, head: str):
    from multiscore import Engine

    kwargs = {"multi_item_scoring_delimiter": delimiter_id(model_dir)} if mis else {}
    labels = [5, 9, 42] if head == "causal" else None
    query_ids, items_ids = hf_tokenize(model_dir, QUERY, ITEMS)
    with Engine(str(model_dir), device="cuda", dtype="bfloat16", attention_backend=backend, **kwargs) as engine:
        return engine.score(query_ids, items_ids, label_token_ids=labels).scores


@pytest.mark.parametrize("arch", ["qwen3", "qwen2", "llama"])
@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_flashinfer_matches_torch_backend(tiny_model, arch, head):
    pytest.importorskip("flashinfer")
    model_dir = tiny_model(arch, head, **FLASHINFER_SHAPE)
    for mis in (False, True):
        assert_scores_close(_scores(model_dir, "flashinfer", mis, head), _scores(model_dir, "torch", mis, head), BF16_ATOL)


@pytest.mark.parametrize("arch", ["qwen3", "qwen2", "llama"])
def test_flashinfer_mis_equals_single_item(tiny_model, arch):
    pytest.importorskip("flashinfer")
    model_dir = tiny_model(arch, "seqcls", **FLASHINFER_SHAPE)
    assert_scores_close(_scores(model_dir, "flashinfer", True, "seqcls"), _scores(model_dir, "flashinfer", False, "seqcls"), BF16_ATOL)
