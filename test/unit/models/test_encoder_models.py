"""BERT / XLM-R encoders (multiscore.models.bert, .xlm_roberta) vs transformers, on tiny checkpoints.

Packed variable-length batches must give each sequence the hidden states (and SeqCls logits)
that transformers gives it run alone.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from multiscore.models.registry import get_model_class

ATOL = 1e-4
QUERIES = ["what is the capital of california ?", "who", "big red dog", "the best movie of the year"]
DOCS = [
    "Sacramento is the capital city of the state of California .",
    "a cat",
    "the old man and the sea",
    "it was a good movie , but the book was better ; the music was bad",
]


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def load_ours(path):
    """Our model for the checkpoint's architecture, filled by copying tensors by name: every
    checkpoint tensor must have a parameter and every parameter a tensor."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    model = get_model_class(config.architectures[0])(config)
    tensors = load_file(path / "model.safetensors")
    params = dict(model.named_parameters())
    assert sorted(params) == sorted(tensors)
    with torch.no_grad():
        for name, p in params.items():
            assert p.shape == tensors[name].shape, name
            p.copy_(tensors[name])
    return model.eval()


def load_reference(path, head):
    from transformers import AutoModel, AutoModelForSequenceClassification

    cls = AutoModel if head == "embed" else AutoModelForSequenceClassification
    return cls.from_pretrained(path, dtype=torch.float32).eval()


def encode(tok, texts, pairs):
    """[(input_ids, token_type_ids)] per text / (text, text_pair)."""
    out = []
    for i, text in enumerate(texts):
        args = (text, pairs[i]) if pairs else (text,)
        enc = tok(*args, return_token_type_ids=True)
        out.append((enc["input_ids"], enc["token_type_ids"]))
    return out


def run_packed(model, seqs):
    ids = torch.tensor([t for s, _ in seqs for t in s])
    types = torch.tensor([t for _, ty in seqs for t in ty])
    with torch.no_grad():
        return model(ids, types, [len(s) for s, _ in seqs])  # [T, H]


def run_reference(ref, ids, types):
    with torch.no_grad():
        return ref(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]), output_hidden_states=True)


@pytest.mark.parametrize("head", ["seqcls", "embed"])
@pytest.mark.parametrize("arch", ["bert", "xlm_roberta"])
@pytest.mark.parametrize("case", ["pairs", "single", "one_token"])
def test_packed_matches_transformers(tiny_model, arch, head, case):
    from transformers import AutoTokenizer

    path = tiny_model(arch, head, num_labels=3)
    tok = AutoTokenizer.from_pretrained(path)
    ours, ref = load_ours(path), load_reference(path, head)
    if case == "pairs":  # four (query, doc) pairs of different lengths in one call
        seqs = encode(tok, QUERIES, DOCS)
    elif case == "single":
        seqs = encode(tok, QUERIES[:1], DOCS[:1])
    else:  # length-1 sequences (a lone [CLS] / <s>) packed between longer ones
        cls_id = tok.cls_token_id
        seqs = [([cls_id], [0])] + encode(tok, QUERIES[:2], None) + [([cls_id], [0])]
    lens = [len(s) for s, _ in seqs]

    hidden = run_packed(ours, seqs)
    assert hidden.shape == (sum(lens), ref.config.hidden_size)
    firsts = torch.tensor([0] + lens[:-1]).cumsum(0)
    logits = ours.classify(hidden[firsts]) if head == "seqcls" else None
    for i, ((ids, types), start) in enumerate(zip(seqs, firsts.tolist())):
        expected = run_reference(ref, ids, types)
        torch.testing.assert_close(hidden[start : start + lens[i]], expected.hidden_states[-1][0], atol=ATOL, rtol=0)
        if head == "seqcls":
            torch.testing.assert_close(logits[i], expected.logits[0], atol=ATOL, rtol=0)


def test_padded_rows_do_not_leak(tiny_model):
    """A sequence's states do not depend on what is packed with it."""
    path = tiny_model("bert", "seqcls", num_labels=3)
    model = load_ours(path)
    ids = torch.arange(5, 25)
    alone = model(ids[3:10], None, [7])
    packed = model(ids, None, [3, 7, 10])
    torch.testing.assert_close(packed[3:10], alone, atol=1e-5, rtol=0)


def test_xlm_roberta_positions_start_after_padding(tiny_model):
    path = tiny_model("xlm_roberta", "embed")
    model = load_ours(path)
    pad = json.loads((path / "config.json").read_text())["pad_token_id"]
    assert pad == 1 and model.position_offset == pad + 1
    assert get_model_class("BertModel")(model.config).position_offset == 0


@pytest.mark.parametrize("arch", ["bert", "xlm_roberta"])
def test_seqcls_attributes_and_names(tiny_model, arch):
    ours = load_ours(tiny_model(arch, "seqcls", num_labels=3))
    assert ours.causal_lm is False and ours.is_encoder is True
    prefix = "bert." if arch == "bert" else "roberta."
    names = [n for n, _ in ours.named_parameters()]
    assert all(n.startswith((prefix, "classifier.")) for n in names)
    assert (prefix + "pooler.dense.weight" in names) == (arch == "bert")  # XLM-R SeqCls has no pooler


def test_pooler_can_be_dropped(tiny_model):
    """A checkpoint without pooler.*: the loader sets ``pooler = None``, forward is unchanged."""
    path = tiny_model("bert", "embed")
    model = load_ours(path)
    ids = torch.arange(5, 15)
    before = model(ids, None, [4, 6])
    model.pooler = None
    assert not any(n.startswith("pooler.") for n, _ in model.named_parameters())
    torch.testing.assert_close(model(ids, None, [4, 6]), before, atol=0, rtol=0)


@pytest.mark.parametrize("act", ["gelu_new", "relu"])
def test_other_activations(tiny_model, act):
    from transformers import AutoConfig
    from transformers import BertModel as HFBertModel

    path = tiny_model("bert", "embed")
    config = AutoConfig.from_pretrained(path, hidden_act=act)
    ref = HFBertModel.from_pretrained(path, config=config, dtype=torch.float32).eval()
    ours = get_model_class("BertModel")(config)
    ours.load_state_dict(load_file(path / "model.safetensors"))
    ours.eval()
    ids = torch.arange(5, 17)
    with torch.no_grad():
        expected = ref(input_ids=ids[None]).last_hidden_state[0]
        torch.testing.assert_close(ours(ids, None, [12]), expected, atol=ATOL, rtol=0)


def test_bad_inputs(tiny_model):
    model = load_ours(tiny_model("bert", "embed"))
    ids = torch.arange(5, 15)
    with pytest.raises(ValueError, match="seq_lens"):
        model(ids, None, [4, 5])
    with pytest.raises(ValueError, match=">= 1"):
        model(ids, None, [10, 0])
    with pytest.raises(ValueError, match="positions"):
        model(torch.full((600,), 5), None, [600])
