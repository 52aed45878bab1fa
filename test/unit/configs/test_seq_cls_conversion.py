"""LLM-as-reranker overrides: which head is built, from which rows, and the errors for bad overrides."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen3Config

from make_tiny_model import build_tokenizer
from multiscore.configs.seq_cls_conversion import HeadConversion, conversion_from_config, converted_head


def _config(**overrides):
    config = Qwen3Config(vocab_size=300, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=16, architectures=["Qwen3ForCausalLM"])
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def _convert(**overrides):
    config = _config(**overrides)
    return config, conversion_from_config(config, lambda: build_tokenizer("qwen3"))


def test_no_overrides_no_conversion():
    config, conversion = _convert()
    assert conversion is None
    assert config.architectures == ["Qwen3ForCausalLM"]


def test_from_2_way_softmax_gives_one_label():
    config, conversion = _convert(classifier_from_token=["no", "yes"], method="from_2_way_softmax")
    vocab = build_tokenizer("qwen3").get_vocab()
    assert conversion.token_ids == (vocab["no"], vocab["yes"])
    assert conversion.num_labels == 1 and config.num_labels == 1
    assert config.architectures == ["Qwen3ForSequenceClassification"]


def test_original_qwen3_reranker_shorthand():
    _, conversion = _convert(is_original_qwen3_reranker=True)
    assert conversion.tokens == ("no", "yes") and conversion.method == "from_2_way_softmax"


def test_no_post_processing_is_the_default_method():
    config, conversion = _convert(classifier_from_token=["red", "green", "blue"])
    assert conversion.method == "no_post_processing"
    assert config.num_labels == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"classifier_from_token": ["yes"], "method": "from_2_way_softmax"}, "needs two tokens"),
        ({"classifier_from_token": ["no", "yes"], "method": "softmax_please"}, "unknown conversion method"),
        ({"classifier_from_token": []}, "non-empty list"),
        ({"classifier_from_token": ["two words"]}, "not a single token"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(ValueError, match=message):
        _convert(**overrides)


def test_converted_head_rows():
    rows = torch.tensor([[1.0, 2.0, 3.0], [4.0, 6.0, 8.0]])  # [k=2, H=3]: rows of "no", "yes"
    two_way = HeadConversion("from_2_way_softmax", ("no", "yes"), (0, 1))
    assert converted_head(rows, two_way).tolist() == [[3.0, 4.0, 5.0]]
    plain = HeadConversion("no_post_processing", ("no", "yes"), (0, 1))
    assert converted_head(rows, plain).tolist() == rows.tolist()


def test_two_way_weight_makes_sigmoid_equal_the_two_token_softmax():
    torch.manual_seed(0)
    rows, hidden = torch.randn(2, 16), torch.randn(5, 16)
    weight = converted_head(rows, HeadConversion("from_2_way_softmax", ("no", "yes"), (0, 1)))
    expected = torch.softmax(hidden @ rows.T, dim=-1)[:, 1]
    torch.testing.assert_close(torch.sigmoid(hidden @ weight.T)[:, 0], expected)
