"""Longformer against transformers: sentences and pairs packed in one batch, longer than its windows (a window per
layer), through the bare model and the token classifier (local attention only) and the sequence classifier (the
first token global: every token sees it, and its output comes from the global projections)."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat and the dog sat near the door of the house", "a dog",
         "where is the station near the park where the old man walks his dog at night", "hello world"]
PAIRS = ["on a mat near the door", "runs fast", "near the park", "world"]
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}


def tiny_longformer(path, head: str):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    cfg = transformers.LongformerConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=130, num_labels=3, initializer_range=0.1,
        attention_window=[4, 8], pad_token_id=tokenizer.pad_token_id, attn_implementation="eager")
    model = getattr(transformers, "Longformer" + HEADS[head])(cfg).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("head", list(HEADS))
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head):
    ref, tokenizer = tiny_longformer(tmp_path / "lf", head)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    assert max(len(ids) for ids, _ in seqs) > 2 * 4 + 1  # past every layer's window
    assert_packed_equal_reference(load_ours(tmp_path / "lf"), ref, seqs, logits=head == "seqcls", atol=1e-5,
                                  token_logits=head == "tokcls")


def test_context_length_counts_positions_after_padding_and_stops_at_the_window_with_flashinfer():
    import transformers

    from multiscore.configs.attention_geometry import context_length_of

    cfg = transformers.LongformerConfig(max_position_embeddings=130, pad_token_id=1, attention_window=[8, 4])
    assert context_length_of(cfg, None, None, "torch") == 128  # positions start after the padding index
    assert context_length_of(cfg, None, None, "flashinfer") == 2  # the narrowest layer's one-sided window
    with pytest.raises(ValueError, match="sliding window of 2 tokens"):
        context_length_of(cfg, None, 64, "flashinfer")
