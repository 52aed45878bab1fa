"""Port of vLLM's tests/entrypoints/openai/test_tokenization.py (at 0091c950): POST /tokenize and
/detokenize, the routes the pooling tests' ``test_basic`` call.

Upstream serves HuggingFaceH4/zephyr-7b-beta (--max-model-len 8192); here the session's Qwen2
classifier (byte-level BPE, ChatML template, --context-length 512). ``tokenizer`` is that
checkpoint's tokenizer, as upstream's ``get_tokenizer`` is zephyr's.
"""

from __future__ import annotations

import pytest

from compat_helpers import post

MODEL_NAME = "jason9693/Qwen2.5-1.5B-apeach"
MAX_MODEL_LEN = 512  # upstream: 8192


@pytest.fixture(scope="module")
def server(classify_server):
    return classify_server


def test_tokenize_completions(server, tokenizer):
    """openai/test_tokenization.py::test_tokenize_completions"""
    for add_special in [False, True]:
        prompt = "vllm1 This is a test prompt."
        tokens = tokenizer.encode(prompt, add_special_tokens=add_special)
        response = post(server, "tokenize", {"add_special_tokens": add_special, "model": MODEL_NAME, "prompt": prompt})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["tokens"] == tokens
        assert result["count"] == len(tokens)
        assert result["max_model_len"] == MAX_MODEL_LEN
        assert result["token_strs"] is None


@pytest.mark.parametrize("with_tools", [False, True], ids=["chat", "chat_with_tools"])
def test_tokenize_chat(server, tokenizer, with_tools):
    """openai/test_tokenization.py::test_tokenize_chat and test_tokenize_chat_with_tools"""
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}}}}]
    for add_generation in [False, True]:
        for add_special in [False, True]:
            if with_tools:
                conversation = [{"role": "user", "content": "What's the weather like in Paris today?"}]
            else:
                conversation = [{"role": "user", "content": "Hi there!"},
                                {"role": "assistant", "content": "Nice to meet you!"},
                                {"role": "user", "content": "Can I ask a question? vllm1"}]
            for continue_final in [False, True]:
                if add_generation and continue_final:
                    continue
                if continue_final:
                    conversation.append({"role": "assistant", "content": "Sure,"})
                prompt = tokenizer.apply_chat_template(add_generation_prompt=add_generation,
                                                       continue_final_message=continue_final,
                                                       conversation=conversation,
                                                       tools=tools if with_tools else None, tokenize=False)
                tokens = tokenizer.encode(prompt, add_special_tokens=add_special)
                body = {"add_generation_prompt": add_generation, "continue_final_message": continue_final,
                        "add_special_tokens": add_special, "messages": conversation, "model": MODEL_NAME}
                if with_tools:
                    body["tools"] = tools
                response = post(server, "tokenize", body)
                assert response.status_code == 200, response.text
                result = response.json()
                assert result["tokens"] == tokens
                assert result["count"] == len(tokens)
                assert result["max_model_len"] == MAX_MODEL_LEN
                assert result["token_strs"] is None


def test_tokenize_with_return_token_strs(server, tokenizer):
    """openai/test_tokenization.py::test_tokenize_with_return_token_strs"""
    prompt = "This is a token_strs test prompt! vllm1"
    response = post(server, "tokenize", {"prompt": prompt, "model": MODEL_NAME, "return_token_strs": True})
    assert response.status_code == 200, response.text
    tokens = tokenizer.encode(prompt, add_special_tokens=True)
    tokens_str = tokenizer.convert_ids_to_tokens(tokens)
    result = response.json()
    assert result["tokens"] == tokens
    assert result["count"] == len(tokens)
    assert result["max_model_len"] == MAX_MODEL_LEN
    assert result["token_strs"] == tokens_str


def test_detokenize(server, tokenizer):
    """openai/test_tokenization.py::test_detokenize"""
    prompt = "This is a test prompt. vllm1"
    tokens = tokenizer.encode(prompt, add_special_tokens=False)
    response = post(server, "detokenize", {"model": MODEL_NAME, "tokens": tokens})
    assert response.status_code == 200, response.text
    assert response.json() == {"prompt": prompt}
