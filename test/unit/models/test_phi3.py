"""Phi3 against transformers, single-item and MIS: q/k/v and gate/up fused in the checkpoint,
a partial rotary (Phi-4-mini) and a sliding window on every layer (Phi-3)."""

import pytest

from worker_batches import assert_both_ways_match_transformers, worker

PARTIAL_ROTARY = {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("kw", [{}, {"sliding_window": 4, "rope_parameters": PARTIAL_ROTARY}], ids=["plain", "window-partial"])
def test_phi3_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    path = tiny_model("phi3", head, **kw)
    labels = [3, 9, 20] if head == "causal" else None
    w = worker(path)
    assert w.model.model.rotary_emb.inv_freq.shape == ((4,) if kw else (8,))  # head_dim 16, half of it rotated
    assert_both_ways_match_transformers(w, path, labels, (0, 5))


def test_a_checkpoint_missing_part_of_a_fused_layer_is_refused(tiny_model, tmp_path):
    """Phi3's qkv_proj loads whole; a checkpoint without it still fails the completeness check."""
    import shutil

    from safetensors.torch import load_file, save_file

    path = tmp_path / "phi3"
    shutil.copytree(tiny_model("phi3", "seqcls"), path)
    tensors = load_file(str(path / "model.safetensors"))
    del tensors["model.layers.1.self_attn.qkv_proj.weight"]
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"missing 3 weights.*layers\.1\.self_attn\.qkv_proj\.weight \(q\)"):
        worker(path)
