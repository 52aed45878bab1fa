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


def test_a_bare_model_without_sentence_transformers_files_embeds_by_mean(tiny_model):
    from transformers import AutoModel

    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ScoreSequence
    from worker_batches import worker

    path = tiny_model("eurobert", "embed")
    texts = [[2, 17, 30, 8, 3], [2, 44, 3]]
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)]
    ours = torch.cat(worker(path).forward(seqs))
    ref = AutoModel.from_pretrained(str(path)).eval()
    with torch.no_grad():
        means = torch.stack([ref(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0) for ids in texts])
    torch.testing.assert_close(ours, torch.nn.functional.normalize(means, dim=-1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("pooling", ["late", "bos"])
def test_token_classify_is_the_head_on_every_token(tiny_model, pooling):
    """vLLM's token_classify on a classifier: its head on every token, whatever the pooling."""
    from transformers import AutoModelForSequenceClassification

    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ScoreSequence
    from worker_batches import worker

    path = tiny_model("eurobert", "seqcls", num_labels=2, classifier_pooling=pooling)
    ids = [2, 17, 30, 8, 3]
    out = worker(path).forward([ScoreSequence("0", ids, 0, 1, PoolingParams(activation="none", per_token=True))])[0]
    ref = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    with torch.no_grad():
        hidden = ref.model(input_ids=torch.tensor([ids])).last_hidden_state[0]
        expected = ref.classifier(ref.activation(ref.dense(hidden)))
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
