"""XLNet against transformers: sentences and pairs (XLNet's layout: A <sep> B <sep> <cls>, types 0 / 1 / 2) packed in
one batch of different lengths, through the classifier on the last token, the bare model and the token classifier;
with a clamped distance too; the options transformers' scoring does not use refused."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from test_encoder_models import assert_packed_equal_reference, load_ours

TEXTS = ["the cat sat on the mat", "a dog", "where is the station near the park", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}


def tiny_xlnet(path, head: str, **config):
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    cfg = transformers.XLNetConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, d_model=64, n_layer=2, n_head=4, d_inner=128, num_labels=3,
        initializer_range=0.1, pad_token_id=tokenizer.pad_token_id, **config)
    model = getattr(transformers, "XLNet" + HEADS[head])(cfg).eval()
    with torch.no_grad():  # transformers initialises the relative biases and segment embeddings at 0.1 scale too
        for name, p in model.named_parameters():
            if name.endswith(("_bias", "seg_embed")):
                p.normal_(0, 0.5)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def xlnet_inputs(tokenizer, texts, pairs):
    """[(input_ids, token_type_ids)]: A <sep> [B <sep>] <cls>, as XLNet's tokenizer lays them out."""
    sep, cls = tokenizer.sep_token_id, tokenizer.cls_token_id
    out = []
    for i, text in enumerate(texts):
        a = tokenizer(text, add_special_tokens=False)["input_ids"] + [sep]
        b = tokenizer(pairs[i], add_special_tokens=False)["input_ids"] + [sep] if pairs else []
        out.append((a + b + [cls], [0] * len(a) + [1] * len(b) + [2]))
    return out


@pytest.mark.parametrize("head, config", [("seqcls", {}), ("embed", {}), ("tokcls", {}), ("seqcls", {"clamp_len": 3})])
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, head, config):
    ref, tokenizer = tiny_xlnet(tmp_path / "xlnet", head, **config)
    seqs = xlnet_inputs(tokenizer, TEXTS, None) + xlnet_inputs(tokenizer, TEXTS, PAIRS)
    hidden, outputs = assert_packed_equal_reference(load_ours(tmp_path / "xlnet"), ref, seqs, logits=head == "seqcls",
                                                    atol=1e-5, token_logits=head == "tokcls", with_types=True)
    if head == "embed":  # pooled on each sequence's last token (<cls>)
        last_rows = torch.tensor([len(ids) for ids, _ in seqs]).cumsum(0) - 1
        torch.testing.assert_close(torch.cat(outputs), hidden[last_rows], atol=0, rtol=0)


@pytest.mark.parametrize("config, message", [({"attn_type": "uni"}, "attn_type 'uni'"), ({"bi_data": True}, "bi_data"),
                                             ({"summary_type": "first"}, "sequence summary")])
def test_options_transformers_scoring_does_not_use_are_refused(tmp_path, config, message):
    tiny_xlnet(tmp_path / "xlnet", "seqcls", **config)
    with pytest.raises(ValueError, match=message):
        load_ours(tmp_path / "xlnet")


def test_context_length_has_no_position_table_to_stop_at():
    """XLNet's config says max_position_embeddings -1 (its positions are relative sinusoids): the usual default
    context, and any --context-length, are served."""
    import transformers

    from multiscore.configs.attention_geometry import context_length_of

    cfg = transformers.XLNetConfig()
    assert context_length_of(cfg, None, None, "torch") == 2048
    assert context_length_of(cfg, None, 8192, "torch") == 8192
