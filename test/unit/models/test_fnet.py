"""FNet against transformers: sentences and pairs of different and equal lengths packed in one batch (each
sequence Fourier-transformed alone, at its own length), through the classifier on the pooler, the bare model and
the token classifier; the TPU transform (fixed-length DFT matrices) refused."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat", "a dog", "where is the station", "hello", "a cat"]
PAIRS = ["on a mat", "runs fast", "near the park", "world", "a dog"]
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}


def tiny_fnet(path, head: str, **config):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("bert")
    cfg = transformers.FNetConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
        max_position_embeddings=128, type_vocab_size=4, num_labels=3, initializer_range=0.1,
        pad_token_id=tokenizer.pad_token_id, **config)
    model = getattr(transformers, "FNet" + HEADS[head])(cfg).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("head", list(HEADS))
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head):
    ref, tokenizer = tiny_fnet(tmp_path / "fnet", head)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    lengths = [len(ids) for ids, _ in seqs]
    assert len(set(lengths)) < len(lengths) > 1  # some lengths shared, others not
    assert_packed_equal_reference(load_ours(tmp_path / "fnet"), ref, seqs, logits=head == "seqcls", atol=1e-5,
                                  token_logits=head == "tokcls")


def test_tpu_fourier_transform_is_refused(tmp_path):
    tiny_fnet(tmp_path / "fnet", "seqcls", use_tpu_fourier_optimizations=True)
    with pytest.raises(ValueError, match="use_tpu_fourier_optimizations"):
        load_ours(tmp_path / "fnet")
