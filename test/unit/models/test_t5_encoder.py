"""T5 encoders (gtr-t5, sentence-t5: ``T5EncoderModel``) against transformers, packed sequences
long enough to reach the relative bias's log-spaced buckets, with T5's ReLU feed-forward and T5
v1.1's gated GELU, and UMT5's (a bias table in every block); and a GTR-shaped sentence-transformers model (mean, Dense, Normalize) against
``SentenceTransformer.encode``."""

import json

import numpy as np
import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from st_files import add_dense_module, write_sentence_transformers_files
from test_encoder_models import run_packed
from worker_batches import worker

# Lengths 1..29 over 8 buckets with max_distance 16: exact, log-spaced and clamped distances.
SEQS = [list(range(5, 5 + n)) for n in (29, 1, 12, 7, 22)]


def tiny_t5(model_class, path, feed_forward_proj: str, config_class=None, **config):
    """A tiny random T5 of ``model_class`` (its relative bias tables made to count; decoding starts at the
    pad token, as T5's) and its tokenizer, saved at ``path`` -> (model, tokenizer)."""
    from transformers import T5Config

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    config = (config_class or T5Config)(vocab_size=(len(tokenizer) + 63) // 64 * 64, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                      num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=16,
                      feed_forward_proj=feed_forward_proj, initializer_factor=1.0, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id, **config)
    model = model_class(config).eval()
    with torch.no_grad():  # T5's init leaves the bias tables near zero; make every bucket count
        for block in model.encoder.block:
            table = getattr(block.layer[0].SelfAttention, "relative_attention_bias", None)  # T5: the first block's only
            if table is not None:
                table.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


@pytest.fixture(scope="module", params=["relu", "gated-gelu", "umt5"])
def t5_path(request, tmp_path_factory):
    import transformers

    path = tmp_path_factory.mktemp("t5") / request.param
    if request.param == "umt5":  # UMT5: a relative bias table in every block
        tiny_t5(transformers.UMT5EncoderModel, path, "gated-gelu", config_class=transformers.UMT5Config)
    else:
        tiny_t5(transformers.T5EncoderModel, path, request.param)
    return path


def test_hidden_states_equal_transformers(t5_path):
    import transformers

    w = worker(t5_path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    hidden, _ = run_packed(w.model, [(ids, [0] * len(ids)) for ids in SEQS])
    architecture = json.loads((t5_path / "config.json").read_text())["architectures"][0]  # the encoder's class
    ref = getattr(transformers, architecture).from_pretrained(str(t5_path)).eval()
    start = 0
    for ids in SEQS:
        with torch.no_grad():
            expected = ref(input_ids=torch.tensor([ids])).last_hidden_state[0]
        torch.testing.assert_close(hidden[start : start + len(ids)], expected, atol=1e-4, rtol=0)
        start += len(ids)


def test_gtr_shaped_sentence_transformer(t5_path, tmp_path):
    import shutil

    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    path = tmp_path / "gtr"
    shutil.copytree(t5_path, path)
    write_sentence_transformers_files(path, "mean", normalize=False, max_seq_length=128)
    modules = json.loads((path / "modules.json").read_text())
    modules.append(add_dense_module(path, 2, 64, 64, False, "torch.nn.modules.linear.Identity", seed=3))
    modules.append({"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"})
    (path / "3_Normalize").mkdir()
    (path / "modules.json").write_text(json.dumps(modules))
    texts = ["the capital of the country", "a big dog", "music and history of the city in summer and winter"]
    expected = SentenceTransformer(str(path), device="cpu").encode(texts, convert_to_numpy=True)
    tok = AutoTokenizer.from_pretrained(str(path))
    seqs = [ScoreSequence(str(i), tok(t)["input_ids"], 0, 1, PoolingParams(activation="default")) for i, t in enumerate(texts)]
    np.testing.assert_allclose(torch.cat(worker(path).forward(seqs)).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("family", ["T5", "MT5", "UMT5"])
def test_token_classifiers_equal_transformers(tmp_path, family):
    """``T5ForTokenClassification`` (and mT5's, UMT5's): the encoder under ``transformer.``, ``classifier`` on every
    token's final state; packed sequences of different lengths."""
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    config = getattr(transformers, family + "Config")(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj="gated-gelu",
        initializer_factor=1.0, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, num_labels=5)
    ref = getattr(transformers, family + "ForTokenClassification")(config).eval()
    with torch.no_grad():
        for block in ref.transformer.encoder.block:
            table = getattr(block.layer[0].SelfAttention, "relative_attention_bias", None)
            if table is not None:
                table.weight.normal_(0, 1.0)
    ref.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    w = worker(tmp_path)
    assert w.model_config.kind == ModelKind.ENCODER_TOKEN_CLASSIFIER
    hidden, _ = run_packed(w.model, [(ids, [0] * len(ids)) for ids in SEQS])
    start = 0
    for ids in SEQS:
        with torch.no_grad():
            expected = ref(input_ids=torch.tensor([ids])).logits[0]
        torch.testing.assert_close(w.model.classifier(hidden[start : start + len(ids)]), expected, atol=1e-5, rtol=0)
        start += len(ids)


@pytest.mark.parametrize("family, feed_forward", [("T5", "relu"), ("MT5", "gated-gelu"), ("UMT5", "gated-gelu")])
def test_sequence_classifiers_equal_transformers(tmp_path, family, feed_forward):
    """``T5ForSequenceClassification`` (and mT5's, UMT5's): encoder and decoder (its unidirectional relative bias,
    causal, cross-attending), read at the last </s> (one input ends with a token after it); packed sequences of
    different lengths, up to past the buckets' exact range."""
    import transformers

    torch.manual_seed(0)
    tokenizer = build_tokenizer("xlm_roberta")
    config = getattr(transformers, family + "Config")(
        vocab_size=(len(tokenizer) + 63) // 64 * 64, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
        num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj=feed_forward,
        initializer_factor=1.0, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, num_labels=3)
    ref = getattr(transformers, family + "ForSequenceClassification")(config).eval()
    with torch.no_grad():  # every bias table's buckets count
        for name, p in ref.named_parameters():
            if name.endswith("relative_attention_bias.weight"):
                p.normal_(0, 1.0)
    ref.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    eos = tokenizer.eos_token_id
    sequences = [s + [eos] for s in SEQS[:4]] + [SEQS[4] + [eos, 9]]  # the last: a token after its </s>
    w = worker(tmp_path)
    assert w.model_config.kind == ModelKind.ENCODER_CLASSIFIER
    out = w.forward([ScoreSequence(f"s{i}", ids, i, 1, PoolingParams(activation="none")) for i, ids in enumerate(sequences)])
    with torch.no_grad():
        expected = torch.stack([ref(input_ids=torch.tensor([ids])).logits[0] for ids in sequences])
    torch.testing.assert_close(torch.cat(out), expected, atol=1e-5, rtol=0)
