"""ConvBERT against transformers: sentences and pairs of different lengths packed in one batch (each token's
convolution span inside its own sequence, zeros past its ends), a narrower embedding projected up, heads of attention
beside heads of dynamic convolution; the classifier, the bare model and the token classifier; grouped feed-forward."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat near the door", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}


def tiny_convbert(path, head: str, **config):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("bert")
    cfg = transformers.ConvBertConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, embedding_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=128, max_position_embeddings=128, conv_kernel_size=5, num_labels=3,
        initializer_range=0.1, pad_token_id=tokenizer.pad_token_id, hidden_act="gelu_new", **{"head_ratio": 2, **config})
    model = getattr(transformers, "ConvBert" + HEADS[head])(cfg).eval()
    with torch.no_grad():  # transformers starts the separable convolution's bias at 0
        for name, p in model.named_parameters():
            if name.endswith("key_conv_attn_layer.bias"):
                p.normal_(0, 0.5)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("head, config", [("seqcls", {}), ("embed", {}), ("tokcls", {}), ("seqcls", {"num_groups": 2}),
                                          ("seqcls", {"head_ratio": 8})])  # 8 > 4 heads: one of each
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head, config):
    ref, tokenizer = tiny_convbert(tmp_path / "cb", head, **config)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    assert min(len(ids) for ids, _ in seqs) < 5 < max(len(ids) for ids, _ in seqs)  # shorter and longer than a span
    assert_packed_equal_reference(load_ours(tmp_path / "cb"), ref, seqs, logits=head == "seqcls", atol=1e-5,
                                  token_logits=head == "tokcls")
