"""I-BERT in float mode (``quant_mode`` false: its integer kernels off) against transformers: RoBERTa's layers under
``ibert.`` (its quantization tensors saved beside them, unused), sentences and pairs packed in one batch, the
classifier and the bare model; ``quant_mode`` refused with the reason."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]


def tiny_ibert(path, head: str, **config):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    cfg = transformers.IBertConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=130, num_labels=3, initializer_range=0.1,
        pad_token_id=tokenizer.pad_token_id, **config)
    model = getattr(transformers, "IBert" + {"seqcls": "ForSequenceClassification", "embed": "Model"}[head])(cfg).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head):
    ref, tokenizer = tiny_ibert(tmp_path / "ibert", head)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    assert_packed_equal_reference(load_ours(tmp_path / "ibert"), ref, seqs, logits=head == "seqcls", atol=1e-5,
                                  with_types=False)


def test_quant_mode_is_refused_with_the_reason(tmp_path):
    tiny_ibert(tmp_path / "ibert", "seqcls", quant_mode=True)
    with pytest.raises(ValueError, match="quant_mode"):
        load_ours(tmp_path / "ibert")
