"""MiniCPM3 (multi-head latent attention with MiniCPM's multipliers) against transformers, single-item
and MIS: queries and keys/values through their low-rank latents (norms perturbed), a shared rotated key
head, values narrower than keys; and the prefix cache holding those keys."""

import pytest

from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_prefix_cache_scores_as_uncached,
    worker,
)


# MiniCPM3-4B rotates with LongRoPE (served at its short factors, layers/rotary.py); factors for 8 rope dims.
LONGROPE = {"rope_type": "longrope", "rope_theta": 1e4, "original_max_position_embeddings": 4096,
            "short_factor": [1.0, 1.2, 1.5, 2.0], "long_factor": [1.0, 3.0, 9.0, 27.0]}


@pytest.mark.parametrize("head, kw", [("causal", {}), ("seqcls", {}),
                                      ("causal", {"rope_parameters": LONGROPE, "max_position_embeddings": 8192})],
                         ids=["causal", "seqcls", "causal-longrope"])
def test_minicpm3_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    path = tiny_model("minicpm3", head, **kw)
    assert type(worker(path).model.model.layers[0].self_attn).__name__ == "LatentAttention"
    assert_both_ways_equal_transformers(path, head, seed=3)


def test_the_prefix_cache_holds_the_expanded_keys_and_scores_as_uncached(tiny_model):
    assert_prefix_cache_scores_as_uncached(tiny_model("minicpm3", "seqcls"), [(4, 24), (4, 24)])  # heads x (nope 16 + rope 8)
