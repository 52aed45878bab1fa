"""XLM and FlauBERT encoders against transformers: sentences and pairs packed in one batch (a pair's second segment
adds the vocabulary's row 1, as XLM embeds segment ids), post-norm layers with GELU (XLM) and ReLU (FlauBERT); the
classifier's summary on the first token, the bare model, the token classifier; multilingual configs, other summaries
and FlauBERT's pre-norm layers refused with the reason."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from test_encoder_models import encode, load_ours, run_packed
from worker_batches import worker

TEXTS = ["the cat sat on the mat", "a dog", "where is the station", "hello"]
PAIRS = ["on a mat", "runs fast", "near the park", "world"]
FAMILIES = {"xlm": ("XLM", {}), "flaubert": ("Flaubert", {"gelu_activation": False})}
HEADS = {"seqcls": "ForSequenceClassification", "embed": "Model", "tokcls": "ForTokenClassification"}


def tiny_xlm(path, family: str, head: str, **config):
    import transformers

    prefix, keys = FAMILIES[family]
    torch.manual_seed(0)
    tokenizer = build_tokenizer("bert")
    cfg = getattr(transformers, prefix + "Config")(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, emb_dim=64, n_layers=2, n_heads=4, max_position_embeddings=128,
        pad_index=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id, num_labels=3, init_std=0.1, embed_init_std=0.1, **keys, **config)
    model = getattr(transformers, prefix + HEADS[head])(cfg).eval()
    with torch.no_grad():  # LayerNorms start at 1 and 0: spread them so a misplaced one shows
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.add_(torch.randn(p.shape) * 0.1)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def _reference(model, ids, types):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]), output_hidden_states=True)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_packed_sentences_and_pairs_equal_transformers(tmp_path, family, head):
    ref, tokenizer = tiny_xlm(tmp_path / family, family, head)
    seqs = encode(tokenizer, TEXTS, None) + encode(tokenizer, TEXTS, PAIRS)
    assert any(1 in types for _, types in seqs)
    hidden, outputs = run_packed(load_ours(tmp_path / family), seqs)
    start = 0
    for (ids, types), out in zip(seqs, outputs):
        expected = _reference(ref, ids, types)
        torch.testing.assert_close(hidden[start : start + len(ids)], expected.hidden_states[-1][0], atol=1e-5, rtol=0)
        if head == "seqcls":
            torch.testing.assert_close(out[0], expected.logits[0], atol=1e-5, rtol=0)
        start += len(ids)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_per_token_tags_equal_transformers(tmp_path, family):
    ref, tokenizer = tiny_xlm(tmp_path / family, family, "tokcls")
    w = worker(tmp_path / family)
    pooling = PoolingParams(activation="none", per_token=True, token_head="classify")
    seqs = encode(tokenizer, TEXTS, None)
    got = w.forward([ScoreSequence(f"t{i}", ids, 0, len(ids), pooling, token_type_ids=types)
                     for i, (ids, types) in enumerate(seqs)])
    for g, (ids, types) in zip(got, seqs):
        torch.testing.assert_close(g, _reference(ref, ids, types).logits[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("family, config, message", [("xlm", {"n_langs": 2}, "multilingual XLM"),
                                                     ("xlm", {"summary_type": "mean"}, "sequence summary"),
                                                     ("flaubert", {"pre_norm": True}, "pre_norm")])
def test_configs_not_served_are_refused_with_the_reason(tmp_path, family, config, message):
    tiny_xlm(tmp_path / family, family, "seqcls", **config)
    with pytest.raises(ValueError, match=message):
        load_ours(tmp_path / family)
