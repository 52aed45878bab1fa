"""LUKE on words alone (no entity inputs) against transformers: RoBERTa's layers under ``luke.`` with its entity
embeddings and entity-aware queries saved beside them, unread; sentences and pairs packed in one batch through the
classifier on BERT's pooler, the bare model and the token classifier."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}


@pytest.mark.parametrize("head", list(HEADS))
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    cfg = transformers.LukeConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, entity_vocab_size=16, entity_emb_size=32, hidden_size=64,
        num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_position_embeddings=130, num_labels=3,
        initializer_range=0.1, pad_token_id=tokenizer.pad_token_id, use_entity_aware_attention=True)
    ref = getattr(transformers, "Luke" + HEADS[head])(cfg).eval()
    ref.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    ours = load_ours(tmp_path)
    assert not any("entity" in name or "w2e" in name for name, _ in ours.named_parameters())
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls", atol=1e-5, token_logits=head == "tokcls")
