"""What each kind of model can be asked for."""

from __future__ import annotations

import pytest

from multiscore.configs.model_kind import ModelKind, Task


@pytest.mark.parametrize(
    "kind, num_labels, tasks",
    [
        (ModelKind.CAUSAL_LM, 2, set()),
        (ModelKind.DECODER_CLASSIFIER, 1, {Task.CLASSIFY, Task.SCORE, Task.TOKEN_CLASSIFY}),
        (ModelKind.ENCODER_CLASSIFIER, 3, {Task.CLASSIFY, Task.TOKEN_CLASSIFY}),  # several labels: no single score
        (ModelKind.ENCODER_EMBEDDING, 2, {Task.EMBED, Task.SCORE, Task.TOKEN_EMBED}),
        (ModelKind.ENCODER_SPARSE_EMBEDDING, 2, {Task.EMBED}),  # SPLADE: relevance is a dot product, not served
        (ModelKind.ENCODER_LATE_INTERACTION, 2, {Task.SCORE, Task.TOKEN_EMBED}),  # ColBERT: no vector per text
        (ModelKind.ENCODER_TOKEN_CLASSIFIER, 9, {Task.TOKEN_CLASSIFY}),  # NER: class scores per token only
        (ModelKind.ENCODER_TOKEN_CLASSIFIER, 1, {Task.TOKEN_CLASSIFY}),
        (ModelKind.DECODER_TOKEN_CLASSIFIER, 3, {Task.TOKEN_CLASSIFY}),
    ],
)
def test_tasks_follow_the_kind_and_labels(kind, num_labels, tasks):
    assert kind.tasks(num_labels) == tasks


def test_only_encoders_are_bidirectional():
    assert {k for k in ModelKind if k.bidirectional} == {ModelKind.ENCODER_CLASSIFIER, ModelKind.ENCODER_EMBEDDING,
                                                         ModelKind.ENCODER_SPARSE_EMBEDDING,
                                                         ModelKind.ENCODER_LATE_INTERACTION,
                                                         ModelKind.ENCODER_TOKEN_CLASSIFIER}
