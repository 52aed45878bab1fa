"""ALBERT beyond the shared encoder matrix (test_encoder_models.py, test_token_classification.py): one
layer's weights serve every layer, and a checkpoint with another grouping is refused with the reason."""

import pytest

from multiscore.models.albert import SharedLayerEncoder
from test_encoder_models import load_ours


def test_one_layer_serves_every_layer(tiny_model):
    encoder = load_ours(tiny_model("albert", "seqcls", num_labels=3)).albert.encoder
    assert isinstance(encoder, SharedLayerEncoder)
    assert (len(encoder.layer), encoder.repeats) == (1, 2)


def test_other_layer_groupings_are_refused(tiny_model):
    path = tiny_model("albert", "seqcls", num_labels=3, num_hidden_groups=2)
    with pytest.raises(ValueError, match="num_hidden_groups=2 and inner_group_num=1 is not supported"):
        load_ours(path)
