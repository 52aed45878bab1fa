"""SqueezeBERT against transformers: sentences and pairs packed in one batch through its grouped 1x1 convolutions
(q/k/v, the attention output, the intermediate and the output each in their own number of groups), the classifier
on the pooler and the bare model."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]


@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("bert")
    config = transformers.SqueezeBertConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, embedding_size=64, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=128, max_position_embeddings=128, q_groups=4, k_groups=2, v_groups=4,
        post_attention_groups=2, intermediate_groups=4, output_groups=2, num_labels=3, initializer_range=0.1,
        pad_token_id=tokenizer.pad_token_id)
    ref = getattr(transformers, "SqueezeBert" + {"seqcls": "ForSequenceClassification", "embed": "Model"}[head])(config).eval()
    ref.save_pretrained(tmp_path / "sq")
    tokenizer.save_pretrained(tmp_path / "sq")
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    assert_packed_equal_reference(load_ours(tmp_path / "sq"), ref, seqs, logits=head == "seqcls", atol=1e-5,
                                  with_types=True)
