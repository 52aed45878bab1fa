"""DeBERTa-v2 beyond the shared encoder matrix (test_encoder_models.py, DeBERTa-v3's shape): the v2
options (own position projections, no buckets, a clamped span, token types, absolute positions,
a narrower embedding), one relative term only, relative attention off, the log buckets, a guard
that the terms matter, the refused convolution layer, and embeddings equal to sentence-transformers."""

import json
import shutil

import numpy as np
import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.models.deberta_v2_attention import log_bucket
from test_encoder_models import DOCS, QUERIES, assert_packed_equal_reference, encode, load_ours, load_reference, run_packed

V2 = dict(share_att_key=False, position_buckets=-1, max_relative_positions=6, type_vocab_size=2,
          position_biased_input=True, embedding_size=32, norm_rel_ebd="none")


@pytest.mark.parametrize("kw", [V2, {"pos_att_type": ["c2p"]}, {"pos_att_type": ["p2c"], "share_att_key": False},
                                {"relative_attention": False}],
                         ids=["v2-options", "c2p-only", "p2c-only-own-projection",
                              "no-relative-attention"])  # the listed terms still scale the scores
@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_variants_equal_transformers(tiny_model, kw, head):
    from transformers import AutoTokenizer

    path = tiny_model("deberta_v2", head, num_labels=3, **kw)
    ours, ref = load_ours(path), load_reference(path, head)
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES, DOCS)  # pairs of 12-25 tokens: past a span of 6
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls")


@pytest.mark.parametrize("buckets,max_position", [(4, 8), (8, 512), (256, 512), (6, 100)])
def test_log_buckets_equal_transformers(buckets, max_position):
    """Bucket edges included: 4 buckets over 8 positions put distance 7 exactly on one."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position

    relative = torch.arange(-1024, 1025)
    expected = make_log_bucket_position(relative, buckets, max_position).long()
    assert torch.equal(log_bucket(relative, buckets, max_position), expected)


def test_the_relative_terms_change_the_states(tiny_model):
    """Guards the parity tests: without relative attention the same weights give other states."""
    path = tiny_model("deberta_v2", "embed")
    seqs = [(list(range(5, 25)), [0] * 20)]
    with_terms, _ = run_packed(load_ours(path), seqs)
    without, _ = run_packed(load_ours(path, json_model_override_args='{"relative_attention": false}'), seqs)
    assert (with_terms - without).abs().max() > 1e-3


def test_a_convolution_layer_is_refused(tiny_model):
    with pytest.raises(ValueError, match="conv_kernel_size"):
        load_ours(tiny_model("deberta_v2", "embed"), json_model_override_args='{"conv_kernel_size": 3}')


def test_kinds_and_embeddings_equal_sentence_transformers(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from st_files import write_sentence_transformers_files

    assert load_ours(tiny_model("deberta_v2", "seqcls")).kind is ModelKind.ENCODER_CLASSIFIER
    path = tmp_path / "deberta-embed"
    shutil.copytree(tiny_model("deberta_v2", "embed"), path)
    write_sentence_transformers_files(path, "mean", normalize=False, max_seq_length=128)  # run_packed: no activation
    texts = QUERIES + DOCS
    expected = SentenceTransformer(str(path), device="cpu").encode(texts, convert_to_numpy=True)
    ours = load_ours(path)
    assert ours.kind is ModelKind.ENCODER_EMBEDDING
    assert json.loads((path / "config.json").read_text())["architectures"] == ["DebertaV2Model"]
    _, outputs = run_packed(ours, encode(AutoTokenizer.from_pretrained(path), texts, None))
    np.testing.assert_allclose(torch.cat(outputs).numpy(), expected, atol=1e-5)
