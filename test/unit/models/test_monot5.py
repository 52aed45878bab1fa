"""T5 rerankers read at the first decoding step (MonoT5) against transformers' T5ForConditionalGeneration:
softmax over the logits of "false" and "true" at the first step, for pairs formatted as MonoT5's
"Query: q Document: d Relevant:"; T5 v1.0 (ReLU, the LM head tied to the embeddings: scaled) and
v1.1 / mT5 (gated GELU, an LM head of its own); other tokens by classifier_from_token; no MIS."""

import json

import pytest
import torch

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.server_args import ServerArgs
from multiscore.tokenizer.pair_tokenizer import PairTokenizer
from multiscore.tokenizer.score_template import ScoreTemplate
from test_t5_encoder import tiny_t5
from worker_batches import worker

QUERY = "what is the capital of california"
DOCS = ["sacramento is the capital of california", "the cat and the dog", "los angeles is a big city in the state of "
        "california by the ocean with a long coast and many people who like music and movies", "yes"]


@pytest.fixture(scope="module", params=["relu-tied", "gated-gelu"])
def monot5(request, tmp_path_factory):
    from transformers import T5ForConditionalGeneration

    path = tmp_path_factory.mktemp("monot5") / request.param
    model, tokenizer = tiny_t5(T5ForConditionalGeneration, path, request.param.removesuffix("-tied"),
                               num_decoder_layers=3, tie_word_embeddings=request.param.endswith("tied"),
                               architectures=["T5ForConditionalGeneration"])
    return path, model, tokenizer


def reference(model, tokenizer, pairs_ids, labels):
    """transformers: the first step's logits at ``labels`` [false, true] -> softmax's "true"."""
    out = []
    with torch.no_grad():
        for ids in pairs_ids:
            logits = model(input_ids=torch.tensor([ids]),
                           decoder_input_ids=torch.tensor([[model.config.decoder_start_token_id]])).logits[0, 0]
            out.append(torch.softmax(logits[labels], -1)[1].item())
    return torch.tensor(out)


def ours(path, pairs_ids, **kw):
    w = worker(path, **kw)
    assert w.model.kind is ModelKind.ENCODER_CLASSIFIER
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(pairs_ids)]
    return torch.cat(w.forward(seqs)).squeeze(1)


def test_relevance_is_monot5s_true_probability(monot5):
    path, model, tokenizer = monot5
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(path)))
    assert config.default_score_template == "monot5" and config.num_labels == 1
    pairs = PairTokenizer(tokenizer, ScoreTemplate.load("monot5", tokenizer)).templated_pairs(QUERY, DOCS)
    assert pairs[0] == tokenizer(f"Query: {QUERY} Document: {DOCS[0]} Relevant:")["input_ids"]  # MonoT5's input, </s> last
    labels = [tokenizer.convert_tokens_to_ids(t) for t in ("\u2581false", "\u2581true")]
    torch.testing.assert_close(ours(path, pairs), reference(model, tokenizer, pairs, labels), atol=1e-5, rtol=0)


def test_other_tokens_by_classifier_from_token(monot5):
    path, model, tokenizer = monot5
    pairs = PairTokenizer(tokenizer, ScoreTemplate.load("monot5", tokenizer)).templated_pairs(QUERY, DOCS)
    labels = [tokenizer.convert_tokens_to_ids(t) for t in ("\u2581no", "\u2581yes")]
    overrides = json.dumps({"classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"})
    got = ours(path, pairs, json_model_override_args=overrides)
    torch.testing.assert_close(got, reference(model, tokenizer, pairs, labels), atol=1e-5, rtol=0)


def test_mt5_reads_no_and_yes_and_mis_is_refused(monot5):
    path = monot5[0]
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(path), json_model_override_args=json.dumps(
        {"architectures": ["MT5ForConditionalGeneration"]})))
    assert config.head_conversion.tokens == ("no", "yes")
    with pytest.raises(ValueError, match="its attention is bidirectional"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path), multi_item_scoring_delimiter=5))
