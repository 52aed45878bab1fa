"""Ports of vLLM's offline-API tests (``from vllm import LLM``): tests/entrypoints/pooling/embed/test_offline.py,
classify/test_offline.py (at 081d0a9f / 0a7dfab9) and scoring/test_cross_encoder_offline.py (416e7956),
run on ``multiscore.LLM`` with the upstream ``LLM(...)`` arguments unchanged.

Stand-ins (tiny random checkpoints, so literal token ids and sizes become the checkpoint's):
intfloat/multilingual-e5-small -> the session's XLM-R embedder; jason9693/Qwen2.5-1.5B-apeach -> the
tiny Qwen2 classifier; tomaarsen/Qwen3-Reranker-0.6B-seq-cls -> a tiny one-label Qwen3 classifier,
against sentence-transformers' CrossEncoder (upstream's ``hf_runner(is_cross_encoder=True)``).
Changed where multiscore does more: upstream expects ``token_embed`` refused on the embedder and
``token_classify`` on the classifier (each vLLM server serves one pooling task); multiscore serves
both, so those cases check the answer instead.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from multiscore import LLM, ClassificationRequestOutput, EmbeddingRequestOutput, PoolingParams

PROMPT = "The chef prepared a delicious meal."
UPSTREAM_ARGS = dict(max_num_batched_tokens=32768, tensor_parallel_size=1, gpu_memory_utilization=0.75,
                     enforce_eager=True, seed=0, attention_config=None)


def softmax(data: torch.Tensor) -> torch.Tensor:
    """vLLM's tests/models/utils.softmax: sigmoid for one label, softmax over several."""
    return torch.sigmoid(data) if data.shape[-1] == 1 else torch.softmax(data, dim=-1)


@pytest.fixture(scope="module")
def embed_llm(checkpoint_of):
    with LLM(model=str(checkpoint_of("embed_server")), num_threads=1, **UPSTREAM_ARGS) as llm:
        yield llm


@pytest.fixture(scope="module")
def classify_llm(checkpoint_of):
    with LLM(model=str(checkpoint_of("classify_server")), max_model_len=None, enable_chunked_prefill=None,
             num_threads=1, **UPSTREAM_ARGS) as llm:
        yield llm


@pytest.fixture(scope="module")
def reranker(tiny_model):
    return tiny_model("qwen3", "seqcls", num_labels=1, seed=8)


@pytest.fixture(scope="module")
def score_llm(reranker):
    with LLM(model=str(reranker), num_threads=1, **UPSTREAM_ARGS) as llm:
        yield llm


def assert_activation_toggles(get_outputs, activation) -> None:
    """Upstream's test_pooling_params: by default the activation applies, ``use_activation=False``
    gives the raw values, and ``activation(raw)`` is the default."""
    default, w_activation, wo_activation = get_outputs(None), get_outputs(True), get_outputs(False)
    assert torch.allclose(default, w_activation, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w_activation, wo_activation, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(activation(wo_activation), w_activation, atol=1e-2)


def _ids(llm, text):
    return llm.get_tokenizer()(text)["input_ids"]


# ---- embed/test_offline.py ------------------------------------------------------------------------

def test_embed_str_token_ids_and_list_prompts(embed_llm):
    """test_str_prompts, test_token_ids_prompts, test_list_prompts; plus the vectors against
    sentence-transformers on the same checkpoint."""
    from sentence_transformers import SentenceTransformer

    prompt_token_ids = _ids(embed_llm, PROMPT)
    assert embed_llm.model_config.embedding_size == 64
    for prompts, n in ((PROMPT, 1), ([prompt_token_ids], 1), ([PROMPT, prompt_token_ids], 2)):
        outputs = embed_llm.embed(prompts, use_tqdm=False)
        assert len(outputs) == n
        for output in outputs:
            assert isinstance(output, EmbeddingRequestOutput)
            assert output.prompt_token_ids == prompt_token_ids
            assert len(output.outputs.embedding) == 64
    expected = SentenceTransformer(embed_llm.model_config.path, device="cpu").encode([PROMPT])[0]
    assert outputs[0].outputs.embedding == pytest.approx(expected.tolist(), abs=1e-4)
    assert outputs[1].outputs.embedding == pytest.approx(outputs[0].outputs.embedding, abs=1e-6)


def test_embed_pooling_params(embed_llm):
    def get_outputs(normalize):
        outputs = embed_llm.embed([PROMPT], pooling_params=PoolingParams(use_activation=normalize), use_tqdm=False)
        return torch.tensor([x.outputs.embedding for x in outputs])

    assert_activation_toggles(get_outputs, lambda raw: F.normalize(raw, p=2, dim=-1))


@pytest.mark.parametrize("task", ["classify", "token_classify"])
def test_embed_unsupported_tasks(embed_llm, task):
    with pytest.raises(ValueError, match="Classification API is not supported by this model.+"):
        embed_llm.encode(PROMPT, pooling_task=task, use_tqdm=False)


def test_embed_token_embed_is_served(embed_llm):
    """Upstream's token_embed case expects a refusal; here it answers a vector per token."""
    (output,) = embed_llm.encode(PROMPT, pooling_task="token_embed", use_tqdm=False)
    assert tuple(output.outputs.data.shape) == (len(_ids(embed_llm, PROMPT)), 64)


# ---- classify/test_offline.py ---------------------------------------------------------------------

def test_classify_str_token_ids_and_list_prompts(classify_llm):
    prompt_token_ids = _ids(classify_llm, PROMPT)
    for prompts, n in ((PROMPT, 1), ([prompt_token_ids], 1), ([PROMPT, prompt_token_ids], 2)):
        outputs = classify_llm.classify(prompts, use_tqdm=False)
        assert len(outputs) == n
        for output in outputs:
            assert isinstance(output, ClassificationRequestOutput)
            assert output.prompt_token_ids == prompt_token_ids
            assert len(output.outputs.probs) == 2


def test_classify_pooling_params(classify_llm):
    def get_outputs(use_activation):
        outputs = classify_llm.classify(PROMPT, pooling_params=PoolingParams(use_activation=use_activation), use_tqdm=False)
        return torch.tensor([x.outputs.probs for x in outputs])

    assert_activation_toggles(get_outputs, softmax)


def test_classify_score_api(classify_llm):
    with pytest.raises(ValueError, match="Scoring API is only enabled for num_labels == 1."):
        classify_llm.score("ping", "pong", use_tqdm=False)


@pytest.mark.parametrize("task", ["embed", "token_embed", "plugin"])
def test_classify_unsupported_tasks(classify_llm, task):
    err_msg = "No IOProcessor plugin installed." if task == "plugin" else "Embedding API is not supported by this model.+"
    with pytest.raises(ValueError, match=err_msg):
        classify_llm.encode(PROMPT, pooling_task=task, use_tqdm=False)


def test_classify_token_classify_is_served(classify_llm):
    (output,) = classify_llm.encode(PROMPT, pooling_task="token_classify", use_tqdm=False)
    assert tuple(output.outputs.data.shape) == (len(_ids(classify_llm, PROMPT)), 2)


# ---- scoring/test_cross_encoder_offline.py --------------------------------------------------------

TEXTS_1 = ["What is the capital of France?", "What is the capital of Germany?"]
TEXTS_2 = ["The capital of France is Paris.", "The capital of Germany is Berlin."]


@pytest.fixture(scope="module")
def hf_model(reranker):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(reranker), device="cpu")


@pytest.mark.parametrize("data_1,data_2,pairs", [
    (TEXTS_1[0], TEXTS_2[0], [[TEXTS_1[0], TEXTS_2[0]]]),  # test_1_to_1
    (TEXTS_1[0], TEXTS_2, [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[0], TEXTS_2[1]]]),  # test_1_to_n
    (TEXTS_1, TEXTS_2, [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]]),  # test_n_to_n
])
def test_score_pairings(score_llm, hf_model, data_1, data_2, pairs):
    vllm_outputs = [output.outputs.score for output in score_llm.score(data_1, data_2)]
    hf_outputs = hf_model.predict(pairs).tolist()
    assert len(vllm_outputs) == len(hf_outputs) == len(pairs)
    for hf, ours in zip(hf_outputs, vllm_outputs):
        assert hf == pytest.approx(ours, rel=0.01)
        assert hf == pytest.approx(ours, abs=1e-4)  # and exact, here


def test_score_classify(score_llm):
    outputs = score_llm.encode(PROMPT, pooling_task="classify", use_tqdm=False)
    assert len(outputs) == 1
    assert len(outputs[0].outputs.data) == 1


def test_score_max_tokens_per_doc(score_llm):
    long_doc = "The capital of France is Paris. " * 20
    outputs_no_limit = score_llm.score(TEXTS_1[0], long_doc, use_tqdm=False)
    outputs_with_limit = score_llm.score(TEXTS_1[0], long_doc, use_tqdm=False,
                                         pooling_params=PoolingParams(extra_kwargs={"max_tokens_per_doc": 10}))
    assert len(outputs_no_limit) == len(outputs_with_limit) == 1
    query_tokens = len(_ids(score_llm, TEXTS_1[0]))
    assert len(outputs_with_limit[0].prompt_token_ids) == query_tokens + 10
    assert len(outputs_with_limit[0].prompt_token_ids) < len(outputs_no_limit[0].prompt_token_ids)


def test_score_pooling_params(score_llm):
    def get_outputs(use_activation):
        outputs = score_llm.score(TEXTS_1[0], TEXTS_2[0], pooling_params=PoolingParams(use_activation=use_activation),
                                  use_tqdm=False)
        return torch.tensor([x.outputs.score for x in outputs])

    assert_activation_toggles(get_outputs, softmax)
