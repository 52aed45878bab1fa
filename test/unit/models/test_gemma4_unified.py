"""Gemma 4 unified (google/gemma-4-12B: ``gemma4_unified_text``) against transformers: Gemma 4's layers (sliding and
global by turns, KV sharing in the last two, global heads wider with values from their keys' projection,
learned layer scalars, soft-capped logits) without per-layer embeddings or experts; its "vision" bidirectional
attention leaving text causal. Single-item and MIS, and the multimodal checkpoint on text."""

import pytest
import torch

from make_tiny_model import _gemma4_config, build_tokenizer, delimiter_id
from test_gemma4 import _assert_scores_as_transformers
from worker_batches import worker

TEXT = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            max_position_embeddings=4096, initializer_range=0.1, use_bidirectional_attention="vision")


def _text_config(vocab: int) -> dict:
    config = dict(TEXT, vocab_size=vocab, **_gemma4_config(vocab))
    for key in ("hidden_size_per_layer_input", "vocab_size_per_layer_input"):  # not Gemma 4 unified's
        config.pop(key)
    return config


def _save(model, tokenizer, path):
    with torch.no_grad():  # layer scalars and norms start at 1: spread them so a missing one shows
        gen = torch.Generator().manual_seed(1)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("layer_scalar"):
                b.add_(torch.randn(b.shape, generator=gen) * 0.1)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def unified(tmp_path_factory):
    from transformers import Gemma4UnifiedForCausalLM, Gemma4UnifiedTextConfig

    torch.manual_seed(0)
    tokenizer = build_tokenizer("gemma3")
    vocab = (len(tokenizer) + 63) // 64 * 64
    model = Gemma4UnifiedForCausalLM(Gemma4UnifiedTextConfig(**_text_config(vocab))).eval()
    return _save(model, tokenizer, tmp_path_factory.mktemp("gemma4_unified")), model


def _assert_served_as_transformers(path, model, seeds=(0, 5)):
    w = worker(path, multi_item_scoring_delimiter=delimiter_id(path))
    assert type(w.model).__name__ == "Gemma4UnifiedForCausalLM"
    _assert_scores_as_transformers(w, model, seeds)


def test_gemma4_unified_equals_transformers_single_item_and_mis(unified):
    _assert_served_as_transformers(*unified)


def test_the_multimodal_checkpoint_serves_its_language_model(tmp_path):
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = build_tokenizer("gemma3")
    vocab = (len(tokenizer) + 63) // 64 * 64
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, head_dim=16,
                  num_key_value_heads=2, patch_size=4)
    config = Gemma4UnifiedConfig(text_config=_text_config(vocab), vision_config=vision, audio_config=None,
                                 image_token_id=vocab - 1, tie_word_embeddings=True)
    model = Gemma4UnifiedForConditionalGeneration(config).eval()
    _assert_served_as_transformers(_save(model, tokenizer, tmp_path / "multimodal"), model, seeds=(2,))


def test_a_reranker_conversion_of_soft_capped_logits_is_refused_with_the_reason(unified):
    """Its logits are soft-capped (as Gemma 4's): a linear classifier from two LM-head rows cannot reproduce them."""
    import json

    overrides = {"architectures": ["Gemma4UnifiedForSequenceClassification"], "classifier_from_token": ["a", "b"],
                 "method": "from_2_way_softmax"}
    with pytest.raises(ValueError, match="soft-caps its final logits"):
        worker(unified[0], json_model_override_args=json.dumps(overrides))
