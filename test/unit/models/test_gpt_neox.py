"""GPT-NeoX (Pythia) against transformers: q/k/v fused per head, rotary on a quarter of each head,
LayerNorms, the parallel residual (and the sequential one); the causal LM read at label tokens and
the classifier, single-item and MIS; the LM head under the hub's name (``embed_out``) and transformers'."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_reference import hf_scores
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("head, kw", [("causal", {}), ("seqcls", {}), ("causal", {"use_parallel_residual": False})])
def test_gpt_neox_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    path = tiny_model("gpt_neox", head, **kw)
    labels = LABELS if head == "causal" else None
    query, items = mixed_inputs(seed=5)
    single, mis = score_both_ways(worker(path), query, items, labels, apply_softmax=head == "causal")
    ref = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=head == "causal"))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_the_lm_head_loads_by_either_name(tiny_model, tmp_path):
    """transformers saves the hub's ``embed_out``; its module (and some re-saved checkpoints) say ``lm_head``."""
    path = tiny_model("gpt_neox", "causal")
    for f in path.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    tensors = load_file(str(path / "model.safetensors"))
    tensors["lm_head.weight"] = tensors.pop("embed_out.weight")
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    query, items = mixed_inputs(seed=5)
    assert score_both_ways(worker(tmp_path), query, items, LABELS) == score_both_ways(worker(path), query, items, LABELS)
