"""ModernBERT beyond the shared encoder matrix (test_encoder_models.py): mean-pooled classifiers,
biases switched on, the local window and the two rotary bases, and embeddings equal to
sentence-transformers on a tiny checkpoint with its pooling files."""

import json
import shutil

import numpy as np
import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from test_encoder_models import DOCS, QUERIES, encode, load_ours, load_reference, run_packed, run_reference

BIASES = dict(attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True)


@pytest.mark.parametrize("kw", [{"classifier_pooling": "mean"}, {"classifier_pooling": "mean", **BIASES}, BIASES],
                         ids=["mean", "mean-biases", "cls-biases"])
def test_classifier_variants_equal_transformers(tiny_model, kw):
    from transformers import AutoTokenizer

    path = tiny_model("modernbert", "seqcls", num_labels=2, **kw)
    ours, ref = load_ours(path), load_reference(path, "seqcls")
    assert ours.kind is ModelKind.ENCODER_CLASSIFIER
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES, DOCS)
    _, outputs = run_packed(ours, seqs)
    for (ids, types), out in zip(seqs, outputs):
        torch.testing.assert_close(out[0], run_reference(ref, ids, types).logits[0], atol=1e-4, rtol=0)


def test_the_local_window_and_rotary_bases_change_the_states(tiny_model, tmp_path):
    """Guards the parity tests: with a window wider than every sequence, or one rotary base for
    both layer kinds, the hidden states move."""
    path = tiny_model("modernbert", "embed")
    seqs = [(list(range(5, 25)), [0] * 20)]
    base, _ = run_packed(load_ours(path), seqs)
    for change in ({"local_attention": 64}, {"rope_parameters": {t: {"rope_type": "default", "rope_theta": 160000.0}
                                                               for t in ("full_attention", "sliding_attention")}}):
        moved, _ = run_packed(load_ours(path, json_model_override_args=json.dumps(change)), seqs)
        assert (moved - base).abs().max() > 1e-3, change


def test_embeddings_equal_sentence_transformers(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from st_files import write_sentence_transformers_files

    path = tmp_path / "modernbert-embed"
    shutil.copytree(tiny_model("modernbert", "embed"), path)
    write_sentence_transformers_files(path, "mean", normalize=False, max_seq_length=128)  # run_packed asks for no activation
    texts = QUERIES + DOCS
    expected = SentenceTransformer(str(path), device="cpu").encode(texts, convert_to_numpy=True)
    ours = load_ours(path)
    assert ours.kind is ModelKind.ENCODER_EMBEDDING
    _, outputs = run_packed(ours, encode(AutoTokenizer.from_pretrained(path), texts, None))
    np.testing.assert_allclose(torch.cat(outputs).numpy(), expected, atol=1e-5)
