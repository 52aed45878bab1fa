"""The scorer is picked once, from the model's kind and whether the server packs items (MIS)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from multiscore.configs.model_kind import ModelKind
from multiscore.entrypoints.serving.scorers import (
    BiEncoderScorer,
    DecoderPairScorer,
    EncoderPairScorer,
    MisScorer,
    pick_scorer,
)


@pytest.mark.parametrize(
    "kind, mis, expected",
    [
        (ModelKind.CAUSAL_LM, False, DecoderPairScorer),
        (ModelKind.CAUSAL_LM, True, MisScorer),
        (ModelKind.DECODER_CLASSIFIER, False, DecoderPairScorer),
        (ModelKind.DECODER_CLASSIFIER, True, MisScorer),
        (ModelKind.ENCODER_CLASSIFIER, False, EncoderPairScorer),
        (ModelKind.DECODER_EMBEDDING, False, BiEncoderScorer),
        (ModelKind.ENCODER_EMBEDDING, False, BiEncoderScorer),
    ],
)
def test_pick_scorer(kind, mis, expected):
    scorer = pick_scorer(None, None, SimpleNamespace(kind=kind), mis)
    assert type(scorer) is expected
