"""X-MOD against transformers: XLM-R's layers with the served language's adapter in every layer's output, sentences
and pairs packed in one batch, through the classifier, the bare model and the token classifier; the adapter read
through the output LayerNorm or its own, added to the normed or raw state; a config without a language refused."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, encode, load_ours

TEXTS = ["the cat sat on the mat", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}


def tiny_xmod(path, head: str, **config):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    cfg = transformers.XmodConfig(**{
        "vocab_size": (len(tokenizer) + 63) // 64 * 64, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "max_position_embeddings": 130, "num_labels": 3, "initializer_range": 0.1,
        "pad_token_id": tokenizer.pad_token_id, "languages": ["en_XX", "de_DE", "fr_XX"], "default_language": "de_DE",
        **config})
    model = getattr(transformers, "Xmod" + HEADS[head])(cfg).eval()
    with torch.no_grad():  # LayerNorms away from 1, so one read in the wrong place shows
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name or "adapter_layer_norm.weight" in name:
                p.add_(torch.randn(p.shape) * 0.3)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.mark.parametrize("head, config", [
    ("seqcls", {}), ("embed", {}), ("tokcls", {}),
    ("seqcls", {"ln_before_adapter": False}), ("seqcls", {"adapter_layer_norm": True, "adapter_reuse_layer_norm": False}),
    ("seqcls", {"adapter_reuse_layer_norm": False}),
])
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head, config):
    ref, tokenizer = tiny_xmod(tmp_path / "xmod", head, **config)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    ours = load_ours(tmp_path / "xmod")
    assert {name.split("adapter_modules.")[1].split(".")[0] for name, _ in ours.named_parameters()
            if "adapter_modules." in name} == {"de_DE"}
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls", atol=1e-5, token_logits=head == "tokcls")


@pytest.mark.parametrize("config, message", [({"default_language": None}, "names none"),
                                             ({"pre_norm": True}, "pre_norm")])
def test_what_is_not_served_is_refused(tmp_path, config, message):
    tiny_xmod(tmp_path / "xmod", "seqcls", **config)
    with pytest.raises(ValueError, match=message):
        load_ours(tmp_path / "xmod")
