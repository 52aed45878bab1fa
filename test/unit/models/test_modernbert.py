"""ModernBERT beyond the shared encoder matrix (test_encoder_models.py, cls pooling, no biases):
mean-pooled classifiers, biases switched on, a Hub-style (transformers 4.x) config, the local window
and the two rotary bases, unused checkpoint tensors, embeddings equal to sentence-transformers, and
the context FlashInfer gets (it has no bidirectional band)."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.configs.attention_geometry import sliding_window_of

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.server_args import ServerArgs
from test_encoder_models import ATOL, DOCS, QUERIES, assert_packed_equal_reference, encode, load_ours, load_reference, run_packed, run_reference
from worker_batches import worker

BIASES = dict(attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True)
LOCAL_ATTENTION = 6  # the tiny checkpoints': a local layer sees 3 positions either side


def _batches(tok):
    """[lone CLS, four (query, doc) pairs, lone CLS] packed together, and one pair alone."""
    lone = ([tok.cls_token_id], [0])
    return [[lone] + encode(tok, QUERIES, DOCS) + [lone], encode(tok, QUERIES[:1], DOCS[:1])]


def _assert_equal_to_transformers(ours, ref, seqs, logits: bool):
    """Each packed sequence's hidden states (and logits) equal transformers run on it alone."""
    assert max(len(ids) for ids, _ in seqs) > LOCAL_ATTENTION + 1  # the band hides keys
    assert_packed_equal_reference(ours, ref, seqs, logits, atol=ATOL)


@pytest.mark.parametrize("kw", [{"classifier_pooling": "mean"}, {"classifier_pooling": "mean", **BIASES}, BIASES],
                         ids=["mean", "mean-biases", "cls-biases"])
def test_classifier_variants_equal_transformers(tiny_model, kw):
    """Mean pooling averages each sequence's own tokens only (one-token sequences packed beside long ones)."""
    from transformers import AutoTokenizer

    path = tiny_model("modernbert", "seqcls", num_labels=2, **kw)
    ours, ref = load_ours(path), load_reference(path, "seqcls")
    assert ours.kind is ModelKind.ENCODER_CLASSIFIER
    for seqs in _batches(AutoTokenizer.from_pretrained(path)):
        _assert_equal_to_transformers(ours, ref, seqs, logits=True)


def test_embedder_with_biases_equals_transformers(tiny_model):
    from transformers import AutoTokenizer

    path = tiny_model("modernbert", "embed", attention_bias=True, mlp_bias=True, norm_bias=True)
    ours, ref = load_ours(path), load_reference(path, "embed")
    assert ours.kind is ModelKind.ENCODER_EMBEDDING
    for seqs in _batches(AutoTokenizer.from_pretrained(path)):
        _assert_equal_to_transformers(ours, ref, seqs, logits=False)


def test_hub_style_config_equals_transformers(tiny_model, tmp_path):
    """Configs on the Hub (gte-reranker-modernbert-base) name global_rope_theta / local_rope_theta and
    global_attn_every_n_layers, with no rope_parameters or layer_types."""
    from transformers import AutoTokenizer

    path = tmp_path / "hub-style"
    shutil.copytree(tiny_model("modernbert", "seqcls", num_labels=1, classifier_pooling="mean"), path)
    config = json.loads((path / "config.json").read_text())
    for key in ("rope_parameters", "layer_types"):
        config.pop(key)
    config.update(global_rope_theta=80000.0, local_rope_theta=5000.0, global_attn_every_n_layers=2,
                  reference_compile=True, position_embedding_type="absolute")
    (path / "config.json").write_text(json.dumps(config))
    ours, ref = load_ours(path), load_reference(path, "seqcls")
    assert ref.config.rope_parameters["sliding_attention"]["rope_theta"] == 5000.0
    assert [layer.attn.window for layer in ours.model.layers] == [None, LOCAL_ATTENTION // 2 + 1]
    for seqs in _batches(AutoTokenizer.from_pretrained(path)):
        _assert_equal_to_transformers(ours, ref, seqs, logits=True)


def test_the_local_window_and_rotary_bases_change_the_states(tiny_model):
    """Guards the parity tests: with a window wider than every sequence, or one rotary base for
    both layer kinds, the hidden states move."""
    path = tiny_model("modernbert", "embed")
    seqs = [(list(range(5, 25)), [0] * 20)]
    base, _ = run_packed(load_ours(path), seqs)
    for change in ({"local_attention": 64}, {"rope_parameters": {t: {"rope_type": "default", "rope_theta": 160000.0}
                                                               for t in ("full_attention", "sliding_attention")}}):
        moved, _ = run_packed(load_ours(path, json_model_override_args=json.dumps(change)), seqs)
        assert (moved - base).abs().max() > 1e-3, change


def test_unused_head_and_decoder_tensors_do_not_break_loading(tiny_model, tmp_path):
    """A classifier's or masked-LM's checkpoint (``model.*`` beside ``head.*``, ``classifier.*``,
    ``decoder.*``) served as a ModernBertModel: the extra tensors go unused."""
    path = tmp_path / "mlm-as-embedder"
    shutil.copytree(tiny_model("modernbert", "seqcls", num_labels=2), path)
    tensors = load_file(path / "model.safetensors")
    vocab, hidden = tensors["model.embeddings.tok_embeddings.weight"].shape
    tensors.update({"decoder.weight": tensors["model.embeddings.tok_embeddings.weight"].clone(),
                    "decoder.bias": torch.zeros(vocab)})
    save_file(tensors, path / "model.safetensors")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "architectures": ["ModernBertModel"], "sparse_prediction": True}))
    ours, ref = load_ours(path), load_reference(path, "embed")
    assert not any(n.startswith(("head.", "classifier.", "decoder.")) for n, _ in ours.named_parameters())
    seqs = [(list(range(5, 20)), [0] * 15), (list(range(30, 34)), [0] * 4)]
    hidden, _ = run_packed(ours, seqs)
    torch.testing.assert_close(hidden[:15], run_reference(ref, *seqs[0]).last_hidden_state[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("normalize", [True, False])
def test_embeddings_equal_sentence_transformers(tiny_model, tmp_path, normalize):
    """modernbert-embed-base's files: mean pooling, then Normalize; through the whole worker."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from st_files import write_sentence_transformers_files

    path = tmp_path / "modernbert-embed"
    shutil.copytree(tiny_model("modernbert", "embed"), path)
    write_sentence_transformers_files(path, "mean", normalize=normalize, max_seq_length=128)
    texts = ["x"] + QUERIES + DOCS
    expected = SentenceTransformer(str(path), device="cpu").encode(texts, convert_to_numpy=True)
    tok = AutoTokenizer.from_pretrained(path)
    seqs = [ScoreSequence(str(i), tok(t)["input_ids"], 0, 1, PoolingParams(activation="default"))
            for i, t in enumerate(texts)]
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    got = torch.cat(w.forward(seqs)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0) == normalize


def test_flashinfer_caps_the_context_at_the_local_window(tiny_model):
    """FlashInfer has no bidirectional band: its context stops at local_attention // 2 tokens, where
    the band hides no key (the torch backend implements the band and keeps the full context)."""
    path = tiny_model("modernbert", "seqcls", num_labels=2)

    def config(**kw) -> ModelConfig:
        return ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu", **kw))

    assert config().context_length == 512
    assert config(attention_backend="flashinfer").context_length == LOCAL_ATTENTION // 2
    with pytest.raises(ValueError, match="sliding window of 3 tokens"):
        config(attention_backend="flashinfer", context_length=4)
    # transformers 4.x's ModernBertConfig has local_attention but no sliding_window property
    assert sliding_window_of(SimpleNamespace(local_attention=128)) == 64
