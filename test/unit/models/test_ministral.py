"""Ministral (2024: sliding and full layers by ``layer_types``) and Ministral 3 (yarn rotary, Llama 4's
query temperature) against transformers, served by Mistral's classes: single-item and MIS, the
causal LM and the classifier, and Ministral 3's multimodal checkpoints (``Mistral3ForConditionalGeneration``
with a ``ministral3`` text config) on text. The temperature starts at position 4 here (real
checkpoints: 16,384), so the tests' 9-token queries cross it."""

import json

import pytest
import torch

from make_tiny_model import build_tokenizer
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=16, max_position_embeddings=4096, initializer_range=0.1, tie_word_embeddings=False)
YARN = {"rope_type": "yarn", "rope_theta": 1e6, "factor": 16.0, "original_max_position_embeddings": 4,
        "beta_fast": 32.0, "beta_slow": 1.0, "mscale_all_dim": 1.0, "mscale": 1.0, "llama_4_scaling_beta": 0.5}


def _config(family: str, vocab: int):
    import transformers

    if family == "ministral3":
        return transformers.Ministral3Config(**TEXT, vocab_size=vocab, rope_parameters=dict(YARN))
    return transformers.MinistralConfig(**TEXT, vocab_size=vocab, sliding_window=4,
                                        layer_types=["sliding_attention", "full_attention"])


def _save(model, tokenizer, path):
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module", params=["ministral", "ministral3"])
def checkpoint(request, tmp_path_factory):
    """(path of a causal LM, transformers' model, family)."""
    import transformers

    tokenizer = build_tokenizer("mistral")
    config = _config(request.param, (len(tokenizer) + 63) // 64 * 64)
    torch.manual_seed(0)
    prefix = {"ministral": "Ministral", "ministral3": "Ministral3"}[request.param]
    model = getattr(transformers, prefix + "ForCausalLM")(config).eval()
    return _save(model, tokenizer, tmp_path_factory.mktemp(request.param)), model, request.param


def _reference(model, query, items, labels=LABELS):
    rows = []
    with torch.no_grad():
        for item in items:
            logits = model(input_ids=torch.tensor([query + item])).logits[0, -1]
            rows.append(torch.softmax(logits[labels], -1).tolist())
    return torch.tensor(rows)


@pytest.mark.parametrize("seed", [0, 3])
def test_scores_equal_transformers_single_item_and_mis(checkpoint, seed):
    path, model, family = checkpoint
    w = worker(path)
    assert json.loads((path / "config.json").read_text())["architectures"] == [
        {"ministral": "MinistralForCausalLM", "ministral3": "Ministral3ForCausalLM"}[family]]
    query, items = mixed_inputs(seed=seed)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    ref = _reference(model, query, items)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("checkpoint", ["ministral3"], indirect=True)
def test_the_query_temperature_changes_the_scores(checkpoint):
    """Guards the test above: without Ministral 3's temperature, positions past 4 score otherwise."""
    path, _, _ = checkpoint
    w = worker(path)
    query, items = mixed_inputs(seed=1)
    before = torch.tensor(score_both_ways(w, query, items, LABELS, apply_softmax=True)[0])
    w.model.model.query_temperature = None
    after = torch.tensor(score_both_ways(w, query, items, LABELS, apply_softmax=True)[0])
    assert (before - after).abs().max() > 1e-3


def test_the_sequence_classifier_equals_transformers(tmp_path):
    import transformers

    tokenizer = build_tokenizer("mistral")
    config = _config("ministral3", (len(tokenizer) + 63) // 64 * 64)
    config.num_labels = 3
    torch.manual_seed(1)
    model = transformers.Ministral3ForSequenceClassification(config).eval()
    path = _save(model, tokenizer, tmp_path)
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(worker(path), query, items, None)
    with torch.no_grad():
        ref = torch.cat([model(input_ids=torch.tensor([query + item])).logits for item in items])
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_a_ministral3_multimodal_checkpoint_serves_its_language_model(tmp_path):
    """Ministral 3's published layout: ``Mistral3ForConditionalGeneration`` with a ``ministral3`` text config."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    tokenizer = build_tokenizer("mistral")
    vocab = (len(tokenizer) + 63) // 64 * 64
    text = dict(TEXT, vocab_size=vocab, model_type="ministral3", rope_parameters=dict(YARN))
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14, head_dim=16, model_type="pixtral")
    config = Mistral3Config(text_config=text, vision_config=vision, image_token_index=vocab - 1, spatial_merge_size=1,
                            projector_hidden_act="gelu", tie_word_embeddings=False)
    torch.manual_seed(2)
    model = Mistral3ForConditionalGeneration(config).eval()
    w = worker(_save(model, tokenizer, tmp_path))
    assert w.model.model.query_temperature == (0.5, 4)
    query, items = mixed_inputs(seed=4)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    ref = _reference(model, query, items)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
