"""MiMo-V2-Flash against transformers, single-item and MIS: values narrower than keys (scaled), sliding layers with
twice the kv heads and sinks, a partial rotary with a base per layer type, DeepSeek-V3's experts without shared
ones; and cached prefixes, each layer's kv heads its own."""

import json
import shutil

from worker_batches import assert_both_ways_equal_transformers, assert_prefix_cache_scores_as_uncached, worker


def test_mimo_v2_flash_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("mimo_v2_flash", "causal")
    w = worker(path)
    attention = [layer.self_attn for layer in w.model.model.layers]
    assert [(a.num_kv_heads, a.window, a.sinks is not None) for a in attention] == [(2, None, False), (4, 4, True),
                                                                                    (4, 4, True)]
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_cached_prefixes_score_as_uncached(tiny_model, tmp_path):
    classifier = tmp_path / "classifier"
    shutil.copytree(tiny_model("mimo_v2_flash", "causal"), classifier)
    config = json.loads((classifier / "config.json").read_text())
    (classifier / "config.json").write_text(json.dumps(dict(config, architectures=["MiMoV2FlashForSequenceClassification"],
                                                            id2label={"0": "a", "1": "b"})))
    assert_prefix_cache_scores_as_uncached(classifier, [(2, 24), (4, 24), (4, 24)])
