"""scripts/make_tiny_model.py: every arch x head loads in `transformers`, sharded too, offline;
the encoder tokenizers survive an ``AutoTokenizer`` reload."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from make_tiny_model import (
    ARCHS,
    ENCODER_ARCHS,
    ENCODER_HEADS,
    HEADS,
    build_tokenizer,
    delimiter_id,
    main,
    make_tiny_model,
)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("arch", ARCHS)
def test_loads_in_transformers(tmp_path, arch, head):
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, AutoModelForTokenClassification,
                              AutoTokenizer)

    if (arch, head) == ("gemma3", "tokcls"):
        with pytest.raises(ValueError, match="not built for gemma3"):
            make_tiny_model(tmp_path / "m", arch=arch, head=head)
        return
    path = make_tiny_model(tmp_path / "m", arch=arch, head=head, num_labels=5)
    config = json.loads((path / "config.json").read_text())
    suffix = {"causal": "ForCausalLM", "tokcls": "ForTokenClassification"}.get(head, "ForSequenceClassification")
    assert config["architectures"][0].endswith(suffix)
    assert config["vocab_size"] % 64 == 0

    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok) <= config["vocab_size"]
    d = delimiter_id(path)
    assert tok.convert_tokens_to_ids("<|sep|>") == d
    assert tok.pad_token_id == config["pad_token_id"]
    query = tok("What is the capital of California ?")["input_ids"]
    item = tok("Sacramento <|sep|> Los Angeles", add_special_tokens=False)["input_ids"]
    assert d in item
    assert tok.unk_token_id not in query + item
    # Llama, Gemma, Mistral and Phi3 prepend <bos> to the query only; the Qwen tokenizers add nothing.
    assert (query[0] == tok.convert_tokens_to_ids("<bos>")) == (arch not in ("qwen3", "qwen2"))
    assert tok.convert_tokens_to_ids("<bos>") not in item

    cls = {"causal": AutoModelForCausalLM, "tokcls": AutoModelForTokenClassification}.get(head, AutoModelForSequenceClassification)
    model = cls.from_pretrained(path).eval()
    assert next(model.parameters()).dtype == torch.float32
    with torch.no_grad():
        logits = model(torch.tensor([query + item])).logits
    assert logits.shape[-1] == (config["vocab_size"] if head == "causal" else 5)
    if head == "tokcls":
        assert logits.shape[:2] == (1, len(query + item))
    biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    assert all(b.abs().sum() > 0 for b in biases)
    if arch == "qwen2":
        assert biases, "Qwen2 has q/k/v biases"


def test_sharded_same_weights(tmp_path):
    from safetensors.torch import load_file

    plain = make_tiny_model(tmp_path / "plain", arch="qwen2", head="causal")
    sharded = make_tiny_model(tmp_path / "sharded", arch="qwen2", head="causal", max_shard_size="100KB")
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1
    merged = {}
    for shard in shards:
        merged.update(load_file(sharded / shard))
    reference = load_file(plain / "model.safetensors")
    assert merged.keys() == reference.keys()
    assert all(torch.equal(merged[k], reference[k]) for k in reference)


def test_config_overrides(tmp_path):
    path = make_tiny_model(tmp_path / "m", arch="qwen3", head="causal", tie_word_embeddings=True)
    assert json.loads((path / "config.json").read_text())["tie_word_embeddings"] is True


def test_cli(tmp_path):
    script = __import__("make_tiny_model").__file__
    out = subprocess.run(
        [sys.executable, script, "--out", str(tmp_path / "cli"), "--arch", "llama", "--head", "causal"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout
    assert str(tmp_path / "cli") in out
    assert f"delimiter_id: {delimiter_id(tmp_path / 'cli')}" in out


# --- encoder archs: bert / xlm_roberta, heads seqcls / embed -------------------------------------

BERT_VOCAB = ("bert", "electra", "distilbert", "modernbert", "nomic_bert", "deberta_v2", "ernie", "ultrabert", "albert", "deberta", "megatron_bert", "roformer", "mobilebert")  # archs whose tiny tokenizer is BERT's WordPiece
TEXTS = ["What is the capital of California?", "cats", "Sacramento, the city (state 1984) !", "zzq Qwerty"]
PAIRS = [("what is the capital?", "Sacramento is the capital."), ("a", "b"), ("Big dogs", "cats and birds ; 42")]


@pytest.mark.parametrize("head", [h for h in ENCODER_HEADS if h != "mlm"])
@pytest.mark.parametrize("arch", ENCODER_ARCHS)
def test_encoder_loads_in_transformers(tmp_path, arch, head):
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    path = make_tiny_model(tmp_path / "m", arch=arch, head=head, num_labels=5)
    config = json.loads((path / "config.json").read_text())
    prefix = {"bert": "Bert", "xlm_roberta": "XLMRoberta", "roberta": "Roberta", "electra": "Electra",
              "distilbert": "DistilBert", "modernbert": "ModernBert", "nomic_bert": "NomicBert", "deberta_v2": "DebertaV2",
              "mpnet": "MPNet", "gte": "Gte", "eurobert": "EuroBert", "ernie": "Ernie",
              "jina_embeddings_v3": "JinaEmbeddingsV3", "ultrabert": "Ultrabert", "albert": "Albert", "deberta": "Deberta",
              "xlm_roberta_xl": "XLMRobertaXL", "roberta_prelayernorm": "RobertaPreLayerNorm", "megatron_bert": "MegatronBert",
              "roformer": "RoFormer", "mobilebert": "MobileBert"}[arch]
    suffix = {"embed": "Model", "tokcls": "ForTokenClassification"}.get(head, "ForSequenceClassification")
    assert config["architectures"] == [prefix + suffix]
    assert config["vocab_size"] % 64 == 0
    if arch == "distilbert":  # its own size names, no token types
        assert (config["dim"], config["n_layers"], config["n_heads"], config["hidden_dim"]) == (64, 2, 4, 128)
        assert "type_vocab_size" not in config
    else:
        assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (64, 2, 4)
        assert (config["intermediate_size"], config["max_position_embeddings"]) == (
            {"mobilebert": 64}.get(arch, 128), {"gte": 8192, "jina_embeddings_v3": 8194}.get(arch, 512))
        assert config.get("type_vocab_size", 0) == {"bert": 2, "electra": 2, "albert": 2, "nomic_bert": 2, "modernbert": 0, "deberta_v2": 0, "deberta": 0, "mpnet": 0,
                                                  "eurobert": 0, "ernie": 4, "ultrabert": 0, "megatron_bert": 2, "roformer": 2,
                                                  "mobilebert": 2}.get(arch, 1)

    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok) <= config["vocab_size"]
    assert tok.pad_token_id == config["pad_token_id"] == (0 if arch in BERT_VOCAB + ("eurobert",) else 1)
    enc = tok(*PAIRS[0], return_token_type_ids=True)
    assert tok.unk_token_id not in enc["input_ids"]

    cls = {"embed": AutoModel, "tokcls": AutoModelForTokenClassification}.get(head, AutoModelForSequenceClassification)
    model = cls.from_pretrained(path).eval()
    assert next(model.parameters()).dtype == torch.float32
    types = {} if arch in ("distilbert", "modernbert", "deberta_v2", "deberta", "mpnet", "eurobert", "ultrabert") else {"token_type_ids": torch.tensor([enc["token_type_ids"]])}
    with torch.no_grad():
        out = model(input_ids=torch.tensor([enc["input_ids"]]), **types)
    if head == "seqcls":
        assert out.logits.shape == (1, 5)
    elif head == "tokcls":
        assert out.logits.shape == (1, len(enc["input_ids"]), 5)
    else:
        assert out.last_hidden_state.shape == (1, len(enc["input_ids"]), 64)
    biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    assert all(b.abs().sum() > 0 for b in biases) and (biases or arch in ("modernbert", "eurobert"))  # none by default


@pytest.mark.parametrize("arch", ENCODER_ARCHS)
def test_encoder_tokenizer_round_trip(tmp_path, arch):
    """AutoTokenizer rebuilds the saved tokenizer as the model type's class, with the same ids."""
    from transformers import AutoTokenizer

    path = make_tiny_model(tmp_path / "m", arch=arch, head="embed")
    built = build_tokenizer(arch)
    reloaded = AutoTokenizer.from_pretrained(path)
    assert type(reloaded).__name__ == {"bert": "BertTokenizer", "xlm_roberta": "XLMRobertaTokenizer",
                                       "roberta": "RobertaTokenizer", "electra": "BertTokenizer",
                                       "distilbert": "BertTokenizer", "modernbert": "TokenizersBackend",
                                       "nomic_bert": "BertTokenizer", "deberta_v2": "BertTokenizer",
                                       "mpnet": "MPNetTokenizer", "gte": "XLMRobertaTokenizer",
                                       "eurobert": "TokenizersBackend", "ernie": "BertTokenizer",
                                       "jina_embeddings_v3": "XLMRobertaTokenizer", "ultrabert": "BertTokenizer",
                                       "albert": "BertTokenizer", "deberta": "BertTokenizer",
                                       "xlm_roberta_xl": "TokenizersBackend", "roberta_prelayernorm": "RobertaTokenizer",
                                       "megatron_bert": "BertTokenizer", "roformer": "BertTokenizer",
                                       "mobilebert": "BertTokenizer"}[arch]  # ModernBERT: the generic fast class, as its checkpoints
    for args in [(t,) for t in TEXTS] + PAIRS:
        a = built(*args, return_token_type_ids=True)
        b = reloaded(*args, return_token_type_ids=True)
        raw = built.backend_tokenizer.encode(*args)
        assert a["input_ids"] == b["input_ids"] == raw.ids
        assert a["token_type_ids"] == b["token_type_ids"] == raw.type_ids
    assert reloaded.unk_token_id not in reloaded(TEXTS[0])["input_ids"]

    ids = reloaded.convert_tokens_to_ids  # a list of tokens -> their ids
    single = reloaded("cats", return_token_type_ids=True)
    pair = reloaded("big", "dog", return_token_type_ids=True)
    if arch in BERT_VOCAB:
        assert ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == [0, 1, 2, 3, 4]
        assert single["input_ids"] == ids(["[CLS]", "cat", "##s", "[SEP]"])
        assert pair["input_ids"] == ids(["[CLS]", "big", "[SEP]", "dog", "[SEP]"])
        assert pair["token_type_ids"] == [0, 0, 0, 1, 1]
        assert reloaded("CAPITAL")["input_ids"] == ids(["[CLS]", "capital", "[SEP]"])  # lowercased
    elif arch == "mpnet":  # BERT's lowercasing WordPiece, RoBERTa's specials and pair layout
        assert ids(["<s>", "<pad>", "</s>", "[UNK]"]) == [0, 1, 2, 3]
        assert single["input_ids"] == ids(["<s>", "cat", "##s", "</s>"])
        assert pair["input_ids"] == ids(["<s>", "big", "</s>", "</s>", "dog", "</s>"])
        assert pair["token_type_ids"] == [0] * 6
        assert reloaded("CAPITAL")["input_ids"] == ids(["<s>", "capital", "</s>"])
    elif arch == "eurobert":  # the decoders' lowercasing word vocabulary; <bos> text <eos>
        assert reloaded("cat")["input_ids"] == ids(["<bos>", "cat", "<eos>"]) and reloaded.unk_token_id not in ids(["cat"])
        assert pair["input_ids"] == ids(["<bos>", "big", "<eos>", "dog", "<eos>"])
        assert reloaded("CAPITAL")["input_ids"] == ids(["<bos>", "capital", "<eos>"])
    elif arch in ("roberta", "roberta_prelayernorm"):  # byte-level BPE: a word after a space is "Ġword"
        assert ids(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]) == [0, 1, 2, 3, 4]
        p = pair["input_ids"]  # <s> big </s></s> dog </s>, each word in byte-level pieces
        sep = p.index(2)
        assert p[0] == 0 and p[sep : sep + 2] == [2, 2] and p[-1] == 2 and p.count(2) == 3 and 3 not in p
        assert pair["token_type_ids"] == [0] * len(p)
        assert reloaded.decode(reloaded("big dog")["input_ids"], skip_special_tokens=True) == "big dog"
    else:
        assert ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
        assert pair["input_ids"] == ids(["<s>", "\u2581big", "</s>", "</s>", "\u2581dog", "</s>"])
        assert pair["token_type_ids"] == [0] * 6
        assert reloaded("Capital capital")["input_ids"] == ids(["<s>", "\u2581Capital", "\u2581capital", "</s>"])


def test_bert_vocab_txt(tmp_path):
    """vocab.txt (what vocab-file loaders read) rebuilds the same tokenizer as tokenizer.json."""
    from transformers import AutoTokenizer, BertTokenizer

    path = make_tiny_model(tmp_path / "m", arch="bert", head="embed")
    lines = (path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    reloaded = AutoTokenizer.from_pretrained(path)
    assert {t: i for i, t in enumerate(lines)} == reloaded.get_vocab()
    from_vocab = BertTokenizer(vocab=str(path / "vocab.txt"))
    for args in [(t,) for t in TEXTS] + PAIRS:
        a, b = from_vocab(*args), reloaded(*args)
        assert a["input_ids"] == b["input_ids"] and a["token_type_ids"] == b["token_type_ids"]


def test_invalid_heads(tmp_path):
    with pytest.raises(ValueError, match="head for arch 'bert'"):
        make_tiny_model(tmp_path / "a", arch="bert", head="causal")
    with pytest.raises(ValueError, match="head for arch 'xlm_roberta'"):
        make_tiny_model(tmp_path / "b", arch="xlm_roberta", head="causal")
    with pytest.raises(ValueError, match="head for arch 'qwen3'"):
        make_tiny_model(tmp_path / "c", arch="qwen3", head="embed")
    with pytest.raises(ValueError, match="arch must be one of"):
        make_tiny_model(tmp_path / "d", arch="rwkv")


def test_cli_encoder(tmp_path, capsys):
    main(["--out", str(tmp_path / "cli"), "--arch", "xlm_roberta", "--head", "embed"])
    out = capsys.readouterr().out
    assert str(tmp_path / "cli") in out and "delimiter_id" not in out
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["architectures"] == ["XLMRobertaModel"]
    with pytest.raises(ValueError, match="no <\\|sep\\|> token"):
        delimiter_id(tmp_path / "cli")


@pytest.mark.parametrize("arch, name", [("bert", "BertForMaskedLM"), ("distilbert", "DistilBertForMaskedLM"),
                                        ("roberta", "RobertaForMaskedLM"), ("xlm_roberta", "XLMRobertaForMaskedLM"),
                                        ("gte", "GteForMaskedLM")])
def test_masked_lm_heads(tmp_path, arch, name):
    from transformers import AutoModelForMaskedLM

    path = make_tiny_model(tmp_path / "m", arch=arch, head="mlm")
    assert json.loads((path / "config.json").read_text())["architectures"] == [name]
    assert type(AutoModelForMaskedLM.from_pretrained(str(path))).__name__ == name
    with pytest.raises(ValueError, match=r"built for archs \('bert', 'distilbert', 'roberta', 'xlm_roberta', 'gte'\) only"):
        make_tiny_model(tmp_path / "x", arch="electra", head="mlm")
