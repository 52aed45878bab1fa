"""EuroBERT beyond the shared encoder matrices (test_encoder_models.py: ``late`` pooling, the
default): the classifier's other poolings, against transformers, and the refusal of an unknown one."""

import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from test_encoder_models import ATOL, DOCS, QUERIES, encode, load_ours, load_reference, run_packed, run_reference


@pytest.mark.parametrize("pooling", ["bos", "mean", "late"])
def test_classifier_poolings_match_transformers(tiny_model, pooling):
    from transformers import AutoTokenizer

    path = tiny_model("eurobert", "seqcls", num_labels=2, classifier_pooling=pooling)
    ours, ref = load_ours(path), load_reference(path, "seqcls")
    assert ours.kind is ModelKind.ENCODER_CLASSIFIER and ref.config.classifier_pooling == pooling
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES, DOCS)
    _, outputs = run_packed(ours, seqs)
    for out, (ids, types) in zip(outputs, seqs):
        torch.testing.assert_close(out[0], run_reference(ref, ids, types).logits[0], atol=ATOL, rtol=0)


def test_an_unknown_classifier_pooling_is_refused(tiny_model):
    with pytest.raises(ValueError, match="classifier_pooling 'max' is not supported"):
        load_ours(tiny_model("eurobert", "seqcls"), json_model_override_args='{"classifier_pooling": "max"}')


def test_multi_item_scoring_is_refused_for_its_bidirectional_attention(tiny_model):
    with pytest.raises(ValueError, match="its attention is bidirectional"):
        load_ours(tiny_model("eurobert", "seqcls"), multi_item_scoring_delimiter=5)
