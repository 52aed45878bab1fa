"""vLLM's classify activation rules and truncate_prompt_tokens resolution."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import PretrainedConfig

from multiscore.entrypoints.serving.results import activate, activation_of, resolve_truncation


@pytest.mark.parametrize(
    "problem_type, num_labels, expected",
    [
        (None, 3, "softmax"),
        (None, 1, "sigmoid"),
        ("single_label_classification", 4, "softmax"),
        ("multi_label_classification", 4, "sigmoid"),
        ("regression", 1, None),
        ("regression", 2, None),
    ],
)
def test_activation_follows_problem_type(problem_type, num_labels, expected):
    config = PretrainedConfig(num_labels=num_labels, problem_type=problem_type)
    assert activation_of(config) == expected


def test_activate_values():
    logits = np.array([[0.0, np.log(3.0)], [1000.0, -1000.0]], dtype=np.float32)
    np.testing.assert_allclose(activate(logits, "softmax"), [[0.25, 0.75], [1.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(activate(logits, "sigmoid")[0], [0.5, 0.75], atol=1e-7)
    np.testing.assert_array_equal(activate(logits, None), logits.astype(np.float64))


def test_resolve_truncation():
    assert resolve_truncation(None, 128) is None
    assert resolve_truncation(-1, 128) == 128
    assert resolve_truncation(5, 128) == 5
    with pytest.raises(ValueError, match=r"larger than the model's context length \(128\)"):
        resolve_truncation(129, 128)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="positive number of tokens, or -1"):
            resolve_truncation(bad, 128)
