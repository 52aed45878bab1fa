"""The scorer is picked once, from the model's kind and whether the server packs items (MIS)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from multiscore.configs.model_kind import ModelKind
from multiscore.entrypoints.serving.scorers import (
    BiEncoderScorer,
    CompressedMisScorer,
    CompressedPairScorer,
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
    scorer = pick_scorer(None, None, SimpleNamespace(kind=kind, hf_config=SimpleNamespace()), mis)
    assert type(scorer) is expected


@pytest.mark.parametrize("mis, expected", [(False, CompressedPairScorer), (True, CompressedMisScorer)])
def test_a_compressing_decoder_gets_a_scorer_that_sends_token_types(mis, expected):
    config = SimpleNamespace(kind=ModelKind.DECODER_CLASSIFIER, hf_config=SimpleNamespace(token_compression=(2, (8,))))
    assert type(pick_scorer(None, None, config, mis)) is expected
