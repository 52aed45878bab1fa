"""PEFT LoRA adapters chosen per sequence (--lora-modules): against PEFT's own model on the same tiny
checkpoints, several adapters and the base model in one batch, single-item and MIS; and the adapters
this server refuses, with the reason."""

from __future__ import annotations

import json

import pytest
import torch

from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.mis_layout import pack_mis
from make_tiny_model import delimiter_id
from peft_adapters import make_lora_adapter, peft_outputs
from worker_batches import worker

QUERY = list(range(20, 32))
ITEMS = [list(range(40, 45)), list(range(50, 58)), list(range(60, 63))]
LABELS = [5, 6, 7]


@pytest.fixture(scope="module")
def causal(tiny_model, tmp_path_factory):
    """A tiny Qwen3 causal LM (a reranker read at label tokens) and two adapters: attention only (r 4),
    and attention + MLP with rsLoRA (r 8)."""
    base = tiny_model("qwen3", "causal")
    root = tmp_path_factory.mktemp("lora")
    first = make_lora_adapter(base, root / "attention", ["q_proj", "k_proj", "v_proj", "o_proj"], r=4, seed=1)
    second = make_lora_adapter(base, root / "mlp", ["q_proj", "gate_proj", "up_proj", "down_proj"], r=8, seed=2,
                               rslora=True)
    return base, first, second


def _label_softmax(logits):
    return torch.softmax(logits[LABELS], dim=-1)


def test_adapters_and_the_base_model_in_one_batch_equal_peft(causal):
    base, first, second = causal
    w = worker(base, lora_modules=(f"attention={first}", f"mlp={second}"))
    pooling = lambda adapter: PoolingParams(label_token_ids=LABELS, activation="softmax", adapter=adapter)  # noqa: E731
    adapters = [0, 1, None]
    seqs = [ScoreSequence(str(i), QUERY + item, 0, 1, pooling(a)) for i, (item, a) in enumerate(zip(ITEMS, adapters))]
    # MIS: the same query and items packed, once per adapter
    seqs += [ScoreSequence(f"m{a}", pack_mis(QUERY, ITEMS, delimiter_id(base)), 0, len(ITEMS), pooling(a),
                           query_len=len(QUERY), item_lens=[len(x) for x in ITEMS]) for a in (0, 1)]
    got = w.forward(seqs)
    references = {a: peft_outputs(base, path, [QUERY + item for item in ITEMS])
                  for a, path in ((0, first), (1, second), (None, None))}
    for i, a in enumerate(adapters):
        torch.testing.assert_close(got[i][0], _label_softmax(references[a][i]), atol=1e-5, rtol=0)
    for k, a in enumerate((0, 1)):
        for j in range(len(ITEMS)):
            torch.testing.assert_close(got[3 + k][j], _label_softmax(references[a][j]), atol=1e-5, rtol=0)
    assert (_label_softmax(references[0][0]) - _label_softmax(references[None][0])).abs().max() > 1e-3


def test_a_classifier_with_an_adapter_equals_peft(tiny_model, tmp_path):
    base = tiny_model("llama", "seqcls", num_labels=1)
    adapter = make_lora_adapter(base, tmp_path / "rr", ["q_proj", "v_proj", "down_proj"], r=4, seed=3)
    w = worker(base, lora_modules=(f"rr={adapter}",))
    got = w.forward([ScoreSequence("a", QUERY + ITEMS[0], 0, 1, PoolingParams(activation="none", adapter=0))])
    torch.testing.assert_close(got[0][0], peft_outputs(base, adapter, [QUERY + ITEMS[0]])[0], atol=1e-5, rtol=0)


def test_a_seq_cls_adapter_brings_its_own_head(tiny_model, tmp_path):
    """PEFT's SEQ_CLS adapters train the classifier head in full (modules_to_save): its sequences read
    the adapter's head, the others the base model's, in one batch."""
    base = tiny_model("qwen3", "seqcls", num_labels=1)
    adapter = make_lora_adapter(base, tmp_path / "cls", ["q_proj"], r=4, seed=4, task_type="SEQ_CLS")
    assert json.loads((adapter / "adapter_config.json").read_text())["modules_to_save"]
    w = worker(base, lora_modules=(f"cls={adapter}",))
    seqs = [ScoreSequence(str(a), QUERY + ITEMS[0], 0, 1, PoolingParams(activation="none", adapter=a)) for a in (0, None)]
    got = w.forward(seqs)
    torch.testing.assert_close(got[0][0], peft_outputs(base, adapter, [QUERY + ITEMS[0]])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1][0], peft_outputs(base, None, [QUERY + ITEMS[0]])[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("change, reason", [
    ({"use_dora": True}, "use_dora"),
    ({"modules_to_save": ["embed_tokens"]}, "modules_to_save \\['embed_tokens'\\]"),
    ({"rank_pattern": {"q_proj": 2}}, "rank_pattern"),
])
def test_adapters_this_server_does_not_serve_are_refused(causal, tmp_path, change, reason):
    import shutil

    from multiscore.configs.model_config import ModelConfig
    from multiscore.server_args import ServerArgs

    base, first, _ = causal
    bad = tmp_path / "bad"
    shutil.copytree(first, bad)
    config = json.loads((bad / "adapter_config.json").read_text())
    (bad / "adapter_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(ValueError, match=f"LoRA adapter 'bad' is not served: .*{reason}"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(base), device="cpu", lora_modules=(f"bad={bad}",)))


def test_vllms_offline_llm_takes_a_lora_request(tiny_model, tmp_path):
    """``LLM(model, enable_lora=True).score(..., lora_request=LoRARequest(name, id, path))``: loaded on first
    use, then named; without a request the base model; without enable_lora a refusal with the reason. And
    SGLang's ``Engine.score(..., lora_path=...)``, ``load_lora_adapter`` / ``unload_lora_adapter``."""
    from multiscore import LLM, LoRARequest, PoolingParams as LLMParams
    from hf_reference import load_tokenizer

    base = tiny_model("qwen3", "seqcls", num_labels=1)
    adapter = make_lora_adapter(base, tmp_path / "offline", ["q_proj", "down_proj"], r=4, seed=6)
    tok = load_tokenizer(str(base))
    query, docs = "what is the capital", ["sacramento", "a red apple"]
    pairs = [tok(query)["input_ids"] + tok(d, add_special_tokens=False)["input_ids"] for d in docs]
    raw = LLMParams(use_activation=False)
    with LLM(str(base), enable_lora=True, num_threads=1) as llm:
        tuned = [o.outputs.score for o in llm.score(query, docs, pooling_params=raw,
                                                    lora_request=LoRARequest("offline", 1, str(adapter)))]
        again = [o.outputs.score for o in llm.score(query, docs, pooling_params=raw, lora_request=LoRARequest("offline"))]
        plain = [o.outputs.score for o in llm.score(query, docs, pooling_params=raw)]
        engine = llm._engine  # SGLang's Engine underneath: lora_path per call, adapters loaded while serving
        by_path = engine.score(query, docs, lora_path="offline").scores
        engine.load_lora_adapter("again", str(adapter))
        by_new_name = engine.score(query, docs, lora_path="again").scores
        engine.unload_lora_adapter("again")
        with pytest.raises(ValueError, match="lora_path 'again' is not a served adapter"):
            engine.score(query, docs, lora_path="again")
    expected = torch.stack(peft_outputs(base, adapter, pairs)).ravel()
    torch.testing.assert_close(torch.tensor(tuned), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(again), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(by_path).ravel(), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(by_new_name).ravel(), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(plain), torch.stack(peft_outputs(base, None, pairs)).ravel(), atol=1e-5, rtol=0)
    from types import SimpleNamespace

    without = object.__new__(LLM)  # an LLM started without enable_lora: the refusal comes before any work
    without._engine = SimpleNamespace(tokenizer_manager=SimpleNamespace(adapter_keys={}),
                                      server_args=SimpleNamespace(enable_lora=False))
    with pytest.raises(ValueError, match="start the LLM with enable_lora=True"):
        without._params(None, LoRARequest("offline", 1, str(adapter)))


@pytest.mark.parametrize("arch, targets", [("bert", ["query", "value", "intermediate.dense", "output.dense"]),
                                           ("xlm_roberta", ["query", "key"]), ("distilbert", ["q_lin", "v_lin"])])
def test_an_encoder_classifier_adapter_with_its_head_equals_peft(tiny_model, tmp_path, arch, targets):
    """BERT-style fine-tunes: LoRA on the fused query/key/value and dense layers, the classifier trained in full
    (DistilBERT's: pre_classifier and classifier, both in PEFT's modules_to_save)."""
    base = tiny_model(arch, "seqcls", num_labels=2)
    adapter = make_lora_adapter(base, tmp_path / arch, targets, r=4, seed=8, task_type="SEQ_CLS")
    w = worker(base, lora_modules=(f"ft={adapter}",))
    ids = [0, 10, 11, 12, 13, 2] if arch == "xlm_roberta" else [2, 10, 11, 12, 13, 3]
    if arch == "distilbert":  # the adapter brings the whole head
        assert {"classifier", "pre_classifier"} <= set(json.loads((adapter / "adapter_config.json").read_text())["modules_to_save"])
    got = w.forward([ScoreSequence(str(a), ids, 0, 1, PoolingParams(activation="none", adapter=a),
                                   token_type_ids=[0] * len(ids)) for a in (0, None)])
    torch.testing.assert_close(got[0][0], peft_outputs(base, adapter, [ids])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1][0], peft_outputs(base, None, [ids])[0], atol=1e-5, rtol=0)


def test_granites_residual_multiplier_scales_the_adapter_as_the_weight(tiny_model, tmp_path):
    """Granite folds its residual multiplier into o_proj / down_proj as they load: B is scaled alike."""
    from transformers import GraniteConfig, GraniteForCausalLM

    from make_tiny_model import build_tokenizer

    tokenizer = build_tokenizer("llama")
    config = GraniteConfig(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1,
                           residual_multiplier=0.22, tie_word_embeddings=False)
    torch.manual_seed(0)
    base = tmp_path / "granite-base"
    GraniteForCausalLM(config).eval().save_pretrained(base)
    tokenizer.save_pretrained(base)
    adapter = make_lora_adapter(base, tmp_path / "granite", ["o_proj", "down_proj"], r=4, seed=9)
    w = worker(base, lora_modules=(f"g={adapter}",))
    got = w.forward([ScoreSequence("a", QUERY + ITEMS[0], 0, 1,
                                   PoolingParams(label_token_ids=LABELS, activation="softmax", adapter=0))])
    torch.testing.assert_close(got[0][0], _label_softmax(peft_outputs(base, adapter, [QUERY + ITEMS[0]])[0]), atol=1e-5,
                               rtol=0)
