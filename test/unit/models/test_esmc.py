"""ESM C protein language models against transformers: amino-acid sequences of different lengths packed in one
batch — the classifier's logits on <cls>, the bare model's final states (its mean-pooled embedding and per-residue
tagger: test_esm.py, with ESM-2's)."""

import pytest

from test_encoder_models import assert_packed_equal_reference, load_ours, load_reference
from test_esm import _sequences


@pytest.mark.parametrize("head", ["seqcls", "embed"])
def test_packed_proteins_equal_transformers(tiny_model, head):
    path = tiny_model("esmc", head, num_labels=3)
    ours, ref = load_ours(path), load_reference(path, head)
    seqs = [(ids, [0] * len(ids)) for ids, _ in _sequences(path)]
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls")
