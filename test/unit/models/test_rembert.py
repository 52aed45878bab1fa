"""RemBERT against transformers: BERT's layers behind narrower embeddings (32, widened to 64), sentences and pairs
of different lengths packed in one batch; the classifier's logits, the token classifier's, the bare model's states."""

import pytest

from test_encoder_models import assert_packed_equal_reference, encode, load_ours, load_reference


@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_packed_sentences_equal_transformers(tiny_model, head):
    from transformers import AutoTokenizer

    path = tiny_model("rembert", head, num_labels=3)
    ours, ref = load_ours(path), load_reference(path, head)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    seqs = encode(tokenizer, ["the big red dog", "who", "what is the capital of california ?"],
                  ["a cat", "is", "sacramento"])
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls")
