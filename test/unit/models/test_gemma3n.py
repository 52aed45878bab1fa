"""Gemma 3n (text) against transformers, single-item and MIS: AltUp over 4 streams, Laurel, per-layer inputs
(ids past the per-layer table read row 0), sparse MLPs of their own widths, KV-sharing layers, soft-capped
logits; cached prefixes; and the multimodal checkpoint's layout served on text."""

import json
import shutil

import torch
from safetensors.torch import load_file, save_file

from worker_batches import assert_both_ways_equal_transformers, assert_prefix_cache_scores_as_uncached, worker


def test_gemma3n_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("gemma3n", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [layer.self_attn.reuses_kv for layer in layers] == [False, False, True, True]
    assert [layer.mlp.intermediate_size for layer in layers] == [128, 96, 128, 160]
    assert [layer.mlp.std_multiplier is not None for layer in layers] == [True, True, False, False]
    assert layers[0].altup.correct_output_scale.detach().abs().sum() > 0
    for seed in (2, 5, 7):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_cached_prefixes_and_the_multimodal_layout(tiny_model, tmp_path):
    path = tiny_model("gemma3n", "causal")
    classifier = tmp_path / "classifier"
    shutil.copytree(path, classifier)
    config = json.loads((classifier / "config.json").read_text())
    (classifier / "config.json").write_text(json.dumps(dict(config, architectures=["Gemma3nForSequenceClassification"],
                                                            id2label={"0": "a", "1": "b"})))
    assert_prefix_cache_scores_as_uncached(classifier, [(2, 16)] * 2)  # the two layers that make keys
    # Gemma3nForConditionalGeneration's tensors (model.language_model.*) and config (text_config), on text: as the
    # causal LM (transformers' multimodal model needs timm to build, so the causal LM is the reference).
    multimodal = tmp_path / "multimodal"
    shutil.copytree(path, multimodal)
    tensors = {name.replace("model.", "model.language_model.", 1): t
               for name, t in load_file(str(path / "model.safetensors")).items()}
    save_file(tensors, str(multimodal / "model.safetensors"), metadata={"format": "pt"})
    text = {k: v for k, v in config.items() if k not in ("architectures", "transformers_version")}
    (multimodal / "config.json").write_text(json.dumps({"model_type": "gemma3n", "architectures": ["Gemma3nForConditionalGeneration"],
                                                        "text_config": text, "tie_word_embeddings": True}))
    w = worker(multimodal)
    assert type(w.model).__name__ == "Gemma3nForCausalLM"
    assert_both_ways_equal_transformers(multimodal, "causal", seed=3, w=w, reference=path)
    assert torch.equal(w.model.model.embed_tokens.weight, tensors["model.language_model.embed_tokens.weight"])
