"""vLLM's --pooler-config, --convert and --chat-template against the served checkpoint, checked at
start-up (ModelConfig.from_server_args): what fits is applied, what does not is refused with the reason."""

from __future__ import annotations

import json

import pytest

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind
from multiscore.server_args import ServerArgs
from st_files import write_sentence_transformers_files


def _config(path, pooler=None, **kw) -> ModelConfig:
    return ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu", pooler_config=pooler, **kw))


def test_pooling_type_replaces_an_embedders_own(tiny_model, tmp_path):
    path = tiny_model("bert", "embed", seed=11)
    write_sentence_transformers_files(path, pooling="cls", normalize=True, max_seq_length=128)
    assert _config(path).pooling.mode == "cls"
    config = _config(path, {"pooling_type": "MEAN"})
    assert config.pooling.mode == "mean" and config.pooling.normalize  # the rest of its files still hold
    causal = tiny_model("qwen3", "causal", seed=13)
    assert _config(causal, convert="embed").pooling.mode == "last"  # a decoder's own, without files
    assert _config(causal, '{"pooling_type": "CLS"}', convert="embed").pooling.mode == "cls"


def test_a_classifier_takes_only_the_pooling_its_head_reads(tiny_model):
    decoder, encoder = tiny_model("qwen3", "seqcls", num_labels=1), tiny_model("bert", "seqcls", num_labels=2)
    assert _config(decoder, '{"pooling_type": "LAST"}').kind is ModelKind.DECODER_CLASSIFIER
    assert _config(encoder, '{"pooling_type": "CLS"}').kind is ModelKind.ENCODER_CLASSIFIER
    with pytest.raises(ValueError, match="pooling_type MEAN: this classifier's head reads LAST"):
        _config(decoder, '{"pooling_type": "MEAN"}')
    with pytest.raises(ValueError, match="pooling_type LAST: this classifier's head reads CLS"):
        _config(encoder, '{"pooling_type": "LAST"}')
    with pytest.raises(ValueError, match="pooling_type applies to embedding models and classifiers"):
        _config(tiny_model("qwen3", "causal"), '{"pooling_type": "LAST"}')


def test_dimensions_must_fit_the_model(tiny_model):
    matryoshka = tiny_model("bert", "embed", seed=12, matryoshka_dimensions=[16, 32, 64])
    assert _config(matryoshka, '{"dimensions": 32}').pooler.dimensions == 32
    with pytest.raises(ValueError, match="'dimensions' must be one of 16, 32, 64, got 48"):
        _config(matryoshka, '{"dimensions": 48}')
    with pytest.raises(ValueError, match="not a Matryoshka model"):
        _config(tiny_model("bert", "embed"), '{"dimensions": 32}')
    with pytest.raises(ValueError, match="dimensions: Qwen3ForSequenceClassification gives no embeddings"):
        _config(tiny_model("qwen3", "seqcls", num_labels=1), '{"dimensions": 32}')


def test_calibration_and_task_must_fit_the_model(tiny_model):
    classifier = tiny_model("qwen3", "seqcls", num_labels=1)
    config = _config(classifier, '{"logit_mean": 1, "logit_sigma": 2, "task": "token_classify"}')
    assert (config.pooler.logit_mean, config.pooler.logit_sigma, config.pooler.task) == (1.0, 2.0, "token_classify")
    with pytest.raises(ValueError, match="calibrate a classifier's logits; BertModel is not a classifier"):
        _config(tiny_model("bert", "embed"), '{"logit_mean": 1}')
    with pytest.raises(ValueError, match=r"task 'embed': this model \(Qwen3ForSequenceClassification\) supports "
                                         "classify, score, token_classify"):
        _config(classifier, '{"task": "embed"}')


def test_chunked_processing_is_for_dense_embedders(tiny_model):
    embedder = tiny_model("bert", "embed")
    config = _config(embedder, '{"enable_chunked_processing": true, "max_embed_len": 4096}', context_length=128)
    assert config.pooler.chunked and config.pooler.max_embed_len == 4096
    with pytest.raises(ValueError, match="max_embed_len 128 must exceed the context length \\(128\\)"):
        _config(embedder, '{"enable_chunked_processing": true, "max_embed_len": 128}', context_length=128)
    with pytest.raises(ValueError, match="BertForSequenceClassification gives no dense embedding"):
        _config(tiny_model("bert", "seqcls", num_labels=2), '{"enable_chunked_processing": true}')


def test_convert_serves_a_causal_lm_as_vllm_does(tiny_model):
    causal = tiny_model("qwen3", "causal", seed=13)
    embedder = _config(causal, convert="embed")
    assert embedder.architecture == "Qwen3Model" and embedder.kind is ModelKind.DECODER_EMBEDDING
    with pytest.raises(ValueError, match="--convert classify builds a classifier from the LM head's rows"):
        _config(causal, convert="classify")
    overrides = json.dumps({"classifier_from_token": ["a", "b"], "method": "from_2_way_softmax"})
    classifier = _config(causal, convert="classify", json_model_override_args=overrides)
    assert classifier.architecture == "Qwen3ForSequenceClassification" and classifier.num_labels == 1
    assert _config(tiny_model("bert", "embed"), convert="embed").architecture == "BertModel"  # already one
    with pytest.raises(ValueError, match="--convert embed applies to a \\*ForCausalLM checkpoint; "
                                         "Qwen3ForSequenceClassification is served as it is"):
        _config(tiny_model("qwen3", "seqcls", num_labels=1), convert="embed")


def test_chat_template_is_a_file_or_the_template_itself(tiny_model, tmp_path):
    path = tiny_model("qwen3", "seqcls", num_labels=1)
    template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    (tmp_path / "t.jinja").write_text(template)
    for given in (template, str(tmp_path / "t.jinja")):
        config = _config(path, chat_template=given)
        assert config.chat_template == template
        assert config.load_tokenizer().apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == "[user] hi\n"
    with pytest.raises(ValueError, match="--chat-template 'missing.jinja': not a readable file, nor a template"):
        _config(path, chat_template="missing.jinja")


def test_default_prompt_flags_replace_the_checkpoints(tiny_model, tmp_path):
    import shutil

    path = tmp_path / "m"
    shutil.copytree(tiny_model("bert", "embed"), path)
    write_sentence_transformers_files(path, pooling="mean", normalize=True, max_seq_length=128)
    (path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: "}}))
    assert _config(path).pooling.prompt_text(None) == ""
    assert _config(path, default_prompt_name="query").pooling.prompt_text(None) == "q: "
    by_text = _config(path, default_prompt="search: ").pooling
    assert by_text.prompt_text(None) == "search: " and by_text.prompt_text("query") == "q: "
    with pytest.raises(ValueError, match="prompt_name 'passage' is not one of the model's prompts \\(query\\)"):
        _config(path, default_prompt_name="passage")
    with pytest.raises(ValueError, match="--default-prompt: prompts go before the texts of an embedding model"):
        _config(tiny_model("qwen3", "seqcls", num_labels=1), default_prompt="x")
