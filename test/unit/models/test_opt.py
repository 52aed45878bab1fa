"""OPT against transformers: learned positions at an offset of 2, LayerNorms before each part or
after each residual add (opt-350m), embeddings of another width projected in and out
(``word_embed_proj_dim``); the causal LM read at label tokens and the classifier, single-item and MIS."""

import pytest

from worker_batches import assert_both_ways_equal_transformers


@pytest.mark.parametrize("head, kw", [("causal", {}), ("seqcls", {}), ("causal", {"do_layer_norm_before": False}),
                                      ("seqcls", {"word_embed_proj_dim": 32})])
def test_opt_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    assert_both_ways_equal_transformers(tiny_model("opt", head, **kw), head, seed=6)


def test_xglm_equals_transformers_single_item_and_mis(tiny_model):
    """XGLM: OPT's pre-norm body with scaled token embeddings and sinusoidal positions (computed, not stored)."""
    path = tiny_model("xglm", "causal")
    for seed in (2, 6):
        assert_both_ways_equal_transformers(path, "causal", seed=seed)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_biogpt_equals_transformers_single_item_and_mis(tiny_model, head):
    """BioGPT: OPT's pre-norm body with scaled embeddings under its own names (biogpt., output_projection)."""
    path = tiny_model("biogpt", head)
    for seed in (2, 6):
        assert_both_ways_equal_transformers(path, head, seed=seed)
