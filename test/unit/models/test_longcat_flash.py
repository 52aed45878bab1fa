"""LongCat-Flash against transformers, single-item and MIS: two latent-attention sublayers a layer (their query
and latent LoRA scales), shortcut experts fed from the first sublayer, identity experts among them; and the
prefix cache, which holds one attention layer per sublayer."""

import json
import shutil

import torch

from worker_batches import assert_both_ways_equal_transformers, assert_prefix_cache_scores_as_uncached, worker


def test_longcat_flash_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("longcat_flash", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [[a.layer_id for a in layer.self_attn] for layer in layers] == [[0, 1], [2, 3]]
    for seed in (2, 5, 7):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_identity_experts_are_chosen_and_cached_prefixes_score_as_uncached(tiny_model, tmp_path):
    path = tiny_model("longcat_flash", "causal")
    router = worker(path).model.model.layers[0].mlp.router
    _, experts = router(torch.randn(64, 64))
    assert (experts >= 4).any() and (experts < 4).any()  # both kinds are routed to
    # As a classifier (its score head initialised, seeded): 2 layers x 2 sublayers; heads x (nope 16 + rope 8)
    classifier = tmp_path / "classifier"
    shutil.copytree(path, classifier)
    config = json.loads((classifier / "config.json").read_text())
    config.update(architectures=["LongcatFlashForSequenceClassification"], id2label={"0": "a", "1": "b"})
    (classifier / "config.json").write_text(json.dumps(config))
    assert_prefix_cache_scores_as_uncached(classifier, [(4, 24)] * 4)

