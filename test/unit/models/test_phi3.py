"""Phi3 against transformers, single-item and MIS: q/k/v and gate/up fused in the checkpoint,
a partial rotary (Phi-4-mini) and a sliding window on every layer (Phi-3); LongRoPE (Phi-3.5-mini,
Phi-4-mini) at its short factors and attention factor, the context stopping where it would change."""

import pytest

from multiscore.configs.model_config import ModelConfig
from multiscore.server_args import ServerArgs
from worker_batches import assert_both_ways_match_transformers, worker

PARTIAL_ROTARY = {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}
# Phi-4-mini's shape of LongRoPE: 4x its pretraining length, a factor per rotated pair.
LONGROPE = {"rope_type": "longrope", "rope_theta": 1e4, "original_max_position_embeddings": 4096,
            "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.1, 3.8], "long_factor": [1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0]}


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("kw", [{}, {"sliding_window": 4, "rope_parameters": PARTIAL_ROTARY}], ids=["plain", "window-partial"])
def test_phi3_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    path = tiny_model("phi3", head, **kw)
    labels = [3, 9, 20] if head == "causal" else None
    w = worker(path)
    assert w.model.model.rotary_emb.inv_freq.shape == ((4,) if kw else (8,))  # head_dim 16, half of it rotated
    assert_both_ways_match_transformers(w, path, labels, (0, 5))


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_longrope_equals_transformers_over_its_short_range(tiny_model, head):
    path = tiny_model("phi3", head, rope_parameters=LONGROPE, max_position_embeddings=16384,
                      original_max_position_embeddings=4096)
    w = worker(path)
    assert w.model.model.rotary_emb.attention_scaling > 1.05  # sqrt(1 + ln 4 / ln 4096): the test would see it
    assert w.model_config.context_length == 4096
    assert_both_ways_match_transformers(w, path, [3, 9, 20] if head == "causal" else None, (0, 5))
    with pytest.raises(ValueError, match="exceeds the 4096 positions served: past them the model's rotary changes"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path), context_length=8192))


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
