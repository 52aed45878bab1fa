"""Token classifiers (transformers' ``*ForTokenClassification``: NER, PII, part-of-speech taggers):
class scores for every token of a packed batch, against transformers on the same tiny checkpoint
(fp32 <= 1e-4), for every encoder family and the decoder families transformers has them for."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multiscore.configs.model_kind import ModelKind, Task
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import worker

ENCODERS = ["bert", "rembert", "xlm_roberta", "roberta", "electra", "distilbert", "modernbert", "nomic_bert", "deberta_v2", "mpnet", "gte", "eurobert", "ernie", "jina_embeddings_v3", "ultrabert", "albert", "deberta", "xlm_roberta_xl", "roberta_prelayernorm", "megatron_bert", "roformer", "mobilebert"]
DECODERS = ["qwen3", "qwen2", "llama", "mistral", "gemma", "gemma2", "phi3", "seed_oss", "arcee", "apertus", "deepseek_v3", "axk1", "axk2", "diffllama", "beam", "biogpt", "persimmon", "helium", "stablelm", "gpt2", "gpt_bigcode", "gpt_neox", "phi", "qwen3_next", "falcon", "bloom", "mpt", "gpt_neo"]  # each token sees the tokens before it
TEXTS = ["the big red dog", "what is the capital of california ?", "who"]


def _reference(path, texts, activation):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForTokenClassification.from_pretrained(str(path), dtype=torch.float32).eval()
    ids = [tok(t)["input_ids"] for t in texts]
    out = []
    with torch.no_grad():
        for x in ids:  # one text at a time: no padding in the reference
            logits = model(input_ids=torch.tensor([x])).logits[0]  # [T, num_labels]
            out.append(logits.softmax(-1) if activation == "softmax" else logits)
    return ids, out


@pytest.mark.parametrize("arch", ENCODERS + DECODERS)
def test_token_scores_equal_transformers(tiny_model, arch):
    path = tiny_model(arch, "tokcls", num_labels=5, seed=11)
    w = worker(path)
    assert w.model.kind is (ModelKind.DECODER_TOKEN_CLASSIFIER if arch in DECODERS else ModelKind.ENCODER_TOKEN_CLASSIFIER)
    for activation in ("default", "none"):  # default: softmax over the labels (transformers' pipeline)
        ids, expected = _reference(path, TEXTS, "softmax" if activation == "default" else "none")
        pooling = PoolingParams(activation=activation, per_token=True, token_head="classify")
        seqs = [ScoreSequence(f"r{i}", x, 0, len(x), pooling) for i, x in enumerate(ids)]
        got = w.forward(seqs)  # one packed batch of the three texts
        for g, e, x in zip(got, expected, ids):
            assert tuple(g.shape) == (len(x), 5)
            np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-4)


def test_a_token_classifier_only_classifies_tokens(tiny_model):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.entrypoints.serving.tasks import refusal
    from multiscore.server_args import ServerArgs

    path = tiny_model("bert", "tokcls", num_labels=5, seed=11)
    cfg = ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu"))
    assert cfg.tasks == frozenset({Task.TOKEN_CLASSIFY})
    assert refusal(cfg, Task.SCORE) == (
        "this model (BertForTokenClassification) is a token classifier: it gives class scores for every token, "
        "not score; use /pooling with task 'token_classify'")


def test_a_decoder_token_classifier_refuses_mis(tiny_model):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.server_args import ServerArgs

    path = tiny_model("qwen3", "tokcls", num_labels=5, seed=11)
    with pytest.raises(ValueError, match="a token classifier scores tokens, not items"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu", multi_item_scoring_delimiter=4))
