"""sentence-transformers files served as that library (the installed version) loads them.

- Folders saved by sentence-transformers 6: its SentenceTransformer keeps the input length as the
  tokenizer's ``model_max_length`` (no ``max_seq_length`` in sentence_bert_config.json any more)
  and names its modules and pooling differently; its CrossEncoder keeps the relevance activation
  in config_sentence_transformers.json (not config.json).
- ``do_lower_case`` in sentence_bert_config.json: texts are lowercased before a cased tokenizer sees them.

Reference: the same library on the same folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from multiscore import Engine
from multiscore.configs.model_config import ModelConfig
from multiscore.layers.score_activation import score_activation
from multiscore.server_args import ServerArgs

LONG = " ".join(["the big red dog walked to the capital of california"] * 6)  # ~60 tokens
SHORT = ["a big dog", "the capital of california"]
QUERY = "what is the capital of california ?"
DOCUMENTS = ["the capital of california", "a big red dog", LONG]


def _saved_version(path) -> str:
    return json.loads((path / "config_sentence_transformers.json").read_text())["__version__"]["sentence_transformers"]


@pytest.fixture(scope="module")
def embedder_dir(tiny_model, tmp_path_factory):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    base = tiny_model("bert", "embed", seed=21)
    st = SentenceTransformer(modules=[Transformer(str(base)), Pooling(64, pooling_mode="mean"), Normalize()], device="cpu")
    st.max_seq_length = 16
    out = tmp_path_factory.mktemp("st6") / "embedder"
    st.save(str(out))
    return out


def test_embedder_saved_by_sentence_transformers_6(embedder_dir):
    from sentence_transformers import SentenceTransformer

    if int(_saved_version(embedder_dir).split(".")[0]) < 6:
        pytest.skip("this sentence-transformers writes the older files, which other tests cover")
    assert "max_seq_length" not in json.loads((embedder_dir / "sentence_bert_config.json").read_text())
    st = SentenceTransformer(str(embedder_dir), device="cpu")
    assert st.max_seq_length == 16
    assert ModelConfig.from_server_args(ServerArgs(model_path=str(embedder_dir), device="cpu")).context_length == 16
    with Engine(str(embedder_dir), num_threads=1) as engine:
        got = np.array(engine.embed(SHORT))
        with pytest.raises(ValueError, match="16"):  # past the saved length: refused, as any over-long input
            engine.embed([LONG])
    np.testing.assert_allclose(got, st.encode(SHORT), atol=1e-5)


@pytest.mark.parametrize("activation", ["Identity", "Tanh"])
def test_cross_encoder_activation_saved_by_sentence_transformers_6(tiny_model, tmp_path, activation):
    from sentence_transformers import CrossEncoder

    base = tiny_model("bert", "seqcls", num_labels=1, seed=22)
    module = getattr(torch.nn, activation)()
    out = tmp_path / "ce"
    CrossEncoder(str(base), device="cpu", activation_fn=module).save(str(out))
    if int(_saved_version(out).split(".")[0]) < 6:
        pytest.skip("this sentence-transformers writes the activation into config.json, which other tests cover")
    assert "sentence_transformers" not in json.loads((out / "config.json").read_text())
    cfg = ModelConfig.from_server_args(ServerArgs(model_path=str(out), device="cpu"))
    kind, built = score_activation(cfg.hf_config, "sigmoid")
    assert (kind, type(built).__name__ if built is not None else None) == (
        ("none", None) if activation == "Identity" else ("module", "Tanh"))
    if activation == "Identity":  # raw logits end to end, as CrossEncoder.predict gives them
        ce = CrossEncoder(str(out), device="cpu")
        expected = ce.predict([[QUERY, d] for d in DOCUMENTS])
        with Engine(str(out), num_threads=1) as engine:
            ranked = engine.rerank(QUERY, DOCUMENTS)
        np.testing.assert_allclose([r.relevance_score for r in sorted(ranked, key=lambda r: r.index)], expected, atol=1e-5)
        assert np.abs(expected).max() > 1.0 or expected.min() < 0  # not sigmoids


def test_do_lower_case_lowercases_before_a_cased_tokenizer(tiny_model, tmp_path):
    import shutil

    from sentence_transformers import SentenceTransformer
    from st_files import write_sentence_transformers_files

    path = tmp_path / "lower"
    shutil.copytree(tiny_model("xlm_roberta", "embed", seed=23), path)  # its tokenizer is cased
    write_sentence_transformers_files(path, "mean", normalize=True, max_seq_length=64)
    config = json.loads((path / "sentence_bert_config.json").read_text())
    (path / "sentence_bert_config.json").write_text(json.dumps({**config, "do_lower_case": True}))
    texts = ["The Big red DOG", "the big red dog", "WHO"]
    st = SentenceTransformer(str(path), device="cpu")
    with Engine(str(path), num_threads=1) as engine:
        got = np.array(engine.embed(texts))
        many = np.array(engine.embed(texts * 100))  # 300 texts: tokenized on the tokenizer thread
    np.testing.assert_allclose(got, st.encode(texts), atol=1e-5)
    np.testing.assert_allclose(got[0], got[1], atol=1e-6)  # the same text once lowercased
    np.testing.assert_allclose(many[:3], got, atol=1e-6)


# ---- sentence-transformers 6 CrossEncoder on a causal LM (LogitScore) ---------------------------

RERANKER_TEMPLATE = (  # Qwen3-Reranker's prompt, as a role-aware chat template: the prompt is the system message
    "<|im_start|>system\nJudge whether the Document meets the requirements .<|im_end|>\n"
    "<|im_start|>user\n"
    '<Instruct>: {{ messages | selectattr("role", "eq", "system") | map(attribute="content") | first '
    '| default("given a web search query") }}\n'
    '<Query>: {{ messages | selectattr("role", "eq", "query") | map(attribute="content") | first }}\n'
    '<Document>: {{ messages | selectattr("role", "eq", "document") | map(attribute="content") | first }}<|im_end|>\n'
    "<|im_start|>assistant\n<think>\n\n</think>\n\n\n"
)
CHATML = ('{%- for message in messages %}{{- "<|im_start|>" + message.role + "\\n" + message.content + "<|im_end|>\\n" }}'
          '{%- endfor %}{%- if add_generation_prompt %}{{- "<|im_start|>assistant\\n" }}{%- endif %}')
PAIR_QUERY = "what is the capital of california ?"
PAIR_DOCUMENTS = ["the capital of california", "a big red dog", "who is the best of the year"]


def _causal_cross_encoder(base, out, template, *, prompt=None, activation=None, generation_prompt=False, false_token=True):
    import shutil

    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.cross_encoder.modules.logit_score import LogitScore
    from transformers import AutoTokenizer

    src = out.parent / (out.name + "-base")
    shutil.copytree(base, src)
    tok = AutoTokenizer.from_pretrained(str(base))
    if template is not None:
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<think>", "</think>"]})
        tok.chat_template = template
    tok.save_pretrained(str(src))
    kwargs = {"processing_kwargs": {"chat_template": {"add_generation_prompt": True}}} if generation_prompt else {}
    transformer = Transformer(str(src), transformer_task="text-generation", **kwargs)
    yes, no = transformer.tokenizer.convert_tokens_to_ids("yes"), transformer.tokenizer.convert_tokens_to_ids("no")
    ce_kwargs = {"prompts": {"query": prompt}, "default_prompt_name": "query"} if prompt else {}
    if activation is not None:
        ce_kwargs["activation_fn"] = activation
    model = CrossEncoder(modules=[transformer, LogitScore(true_token_id=yes, false_token_id=no if false_token else None)],
                         **ce_kwargs)
    model.save(str(out))
    return CrossEncoder(str(out))


@pytest.mark.parametrize("variant", ["reranker-template", "chatml-identity", "text-mode", "true-token-only"])
def test_causal_cross_encoder_saved_by_sentence_transformers_6(tiny_model, tmp_path, variant):
    """A causal LM with LogitScore: a reranker of one label (logit[yes] - logit[no]) with no
    overrides, each pair rendered by the checkpoint's own chat template, scored as predict() scores it."""
    base = tiny_model("qwen3", "causal", seed=41)
    out = tmp_path / variant
    if variant == "reranker-template":
        ce = _causal_cross_encoder(base, out, RERANKER_TEMPLATE, prompt="judge the big dog")
    elif variant == "chatml-identity":
        ce = _causal_cross_encoder(base, out, CHATML, activation=torch.nn.Identity(), generation_prompt=True)
    elif variant == "text-mode":
        ce = _causal_cross_encoder(base, out, None)
    else:
        ce = _causal_cross_encoder(base, out, CHATML, generation_prompt=True, false_token=False)
    assert "LogitScore" in (out / "modules.json").read_text()
    expected = ce.predict([[PAIR_QUERY, d] for d in PAIR_DOCUMENTS])
    with Engine(str(out), num_threads=1) as engine:
        got = [r.relevance_score for r in sorted(engine.rerank(PAIR_QUERY, PAIR_DOCUMENTS), key=lambda r: r.index)]
        if variant == "reranker-template":  # a request's instruction is the system message, as predict(prompt=...)
            instructed = sorted(engine.rerank(PAIR_QUERY, PAIR_DOCUMENTS, instruction="who is it"), key=lambda r: r.index)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if variant == "reranker-template":
        np.testing.assert_allclose([r.relevance_score for r in instructed],
                                   ce.predict([[PAIR_QUERY, d] for d in PAIR_DOCUMENTS], prompt="who is it"), atol=1e-5)
    if variant == "chatml-identity":
        assert expected.min() < 0 or expected.max() > 1  # raw log-odds, not probabilities
