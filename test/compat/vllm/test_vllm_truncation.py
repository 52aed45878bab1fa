"""Port of vLLM's tests/entrypoints/pooling/basic/test_truncation.py (at 1711f0da). (The older
tests/entrypoints/pooling/openai/test_truncation.py (75f7a93a) also had test_zero_truncation_size;
the newest file dropped it, so it is not ported.)

Upstream serves sentence-transformers/all-MiniLM-L12-v2 with --max-model-len 128 and talks to it with
the openai SDK's raw ``client.post``. Here: multiscore's default model, the real all-MiniLM-L6-v2
(same tokenizer family), --context-length 128.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

MODEL_NAME = "sentence-transformers/all-MiniLM-L12-v2"
max_model_len = 128

input = """Immerse yourself in the enchanting chronicle of calculus, a 
    mathematical domain that has radically transformed our comprehension of 
    change and motion. Despite its roots in ancient civilizations, the 
    formal birth of calculus predominantly occurred in the 17th century, 
    primarily under the influential guidance of Sir Isaac Newton and Gottfried 
    Wilhelm Leibniz. The earliest traces of calculus concepts are found in 
    ancient Greek mathematics,most notably in the works of Eudoxus and 
    Archimedes, around 300 BCE. They utilized the 'method of exhaustion'—a 
    technique for computing areas and volumes through the use of finite sums. 
    This methodology laid crucial foundational work for integral calculus. 
    In the 17th century, both Newton and Leibniz independently pioneered 
    calculus, each contributing unique perspectives that would shape this new 
    field."""  # noqa: W291


@pytest.fixture(scope="module")
def client(minilm_server):
    return openai.OpenAI(base_url=minilm_server.url + "/v1", api_key="unused", max_retries=0)


def test_smaller_truncation_size(client):
    """basic/test_truncation.py::test_smaller_truncation_size"""
    truncation_size = 10
    kwargs: dict[str, Any] = {"model": MODEL_NAME, "input": input, "truncate_prompt_tokens": truncation_size}
    response = client.post(path="embeddings", cast_to=object, body={**kwargs})
    assert response["usage"]["prompt_tokens"] == truncation_size


def test_bigger_truncation_size(client):
    """basic/test_truncation.py::test_bigger_truncation_size"""
    truncation_size = max_model_len + 1
    kwargs: dict[str, Any] = {"model": MODEL_NAME, "input": input, "truncate_prompt_tokens": truncation_size}
    with pytest.raises(openai.BadRequestError) as err:
        client.post(path="embeddings", cast_to=object, body={**kwargs})

    assert err.value.status_code == 400
    error_details = err.value.response.json()["error"]
    assert error_details["type"] == "BadRequestError"
    expected_message = ("truncate_prompt_tokens value is greater than max_model_len."
                        " Please request a smaller truncation size.")
    assert error_details["message"] == expected_message


def test_max_truncation_size(client):
    """basic/test_truncation.py::test_max_truncation_size"""
    truncation_size = -1
    kwargs: dict[str, Any] = {"model": MODEL_NAME, "input": input, "truncate_prompt_tokens": truncation_size}
    response = client.post(path="embeddings", cast_to=object, body={**kwargs})
    assert response["usage"]["prompt_tokens"] == max_model_len
