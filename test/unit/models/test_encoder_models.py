"""BERT / XLM-R encoders (multiscore.models.bert, .xlm_roberta) vs transformers, on tiny checkpoints.

Packed variable-length batches, run through the torch attention backend (bidirectional), must give
each sequence the hidden states (and SeqCls logits) that transformers gives it run alone.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind
from multiscore.layers.attention import BatchAttention, get_backend_class
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ForwardBatch, ScoreSequence
from multiscore.model_executor.weight_loader import load_model
from multiscore.models.registry import get_model_class
from multiscore.server_args import ServerArgs

ATOL = 1e-4
CPU = torch.device("cpu")
QUERIES = ["what is the capital of california ?", "who", "big red dog", "the best movie of the year"]
DOCS = [
    "Sacramento is the capital city of the state of California .",
    "a cat",
    "the old man and the sea",
    "it was a good movie , but the book was better ; the music was bad",
]


def load_ours(path, **server_args):
    """Our model for the checkpoint, filled by the real loader (which refuses a checkpoint that
    leaves any parameter unfilled)."""
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu", **server_args))
    return load_model(config, CPU, torch.float32)


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
    """-> (hidden states of every packed row [T, H], the model's outputs: one [1, C] per sequence)."""
    batch = ForwardBatch.build(
        [ScoreSequence("r", ids, i, 1, PoolingParams(), token_type_ids=types) for i, (ids, types) in enumerate(seqs)],
        CPU,
    )
    heads = model.config.num_attention_heads
    kv_heads = getattr(model.config, "num_key_value_heads", None) or heads  # EuroBERT: GQA
    backend = get_backend_class("torch")(CPU, torch.float32, heads, kv_heads, model.config.hidden_size // heads)
    attention = BatchAttention(backend, backend.build_metadata(batch.layouts, causal=False))
    with torch.no_grad():
        return model.hidden_states(batch, attention, None), model(batch, attention)


def assert_packed_equal_reference(ours, ref, seqs, logits: bool, atol: float = 1e-4, token_logits: bool = False,
                                  reference_hidden=lambda out: out.hidden_states[-1][0], with_types=None):
    """Each of ``seqs`` [(input_ids, token_type_ids)], packed in one batch through ``ours``: its rows'
    final hidden states (where ``reference_hidden`` finds them in ``ref``'s output; None: not compared) and,
    with ``logits``, its classifier logits, with ``token_logits`` every token's (through ``ours.classify``, else
    its ``classifier``), equal ``ref`` run on it alone (``with_types``: see run_reference). -> run_packed's."""
    hidden, outputs = run_packed(ours, seqs)
    start = 0
    for (ids, types), out in zip(seqs, outputs):
        expected = run_reference(ref, ids, types, with_types)
        rows = hidden[start : start + len(ids)]
        if reference_hidden is not None:
            torch.testing.assert_close(rows, reference_hidden(expected), atol=atol, rtol=0)
        if logits:
            torch.testing.assert_close(out[0], expected.logits[0], atol=atol, rtol=0)
        if token_logits:
            classify = getattr(ours, "classify", None) or ours.classifier
            torch.testing.assert_close(classify(rows), expected.logits[0], atol=atol, rtol=0)
        start += len(ids)
    return hidden, outputs


def run_reference(ref, ids, types, with_types=None):
    """``ref`` on one sequence; ``with_types``: pass its token types (None: where ``ref``'s config has a type
    vocabulary; DistilBERT and ModernBERT have none)."""
    if with_types is None:
        with_types = getattr(ref.config, "type_vocab_size", 0) > 0
    kwargs = {"token_type_ids": torch.tensor([types])} if with_types else {}
    with torch.no_grad():
        return ref(input_ids=torch.tensor([ids]), output_hidden_states=True, **kwargs)


@pytest.mark.parametrize("head", ["seqcls", "embed"])
@pytest.mark.parametrize("arch", ["bert", "xlm_roberta", "roberta", "electra", "distilbert", "modernbert", "nomic_bert",
                                  "deberta_v2", "mpnet", "gte", "eurobert", "ernie", "jina_embeddings_v3",
                                  "ultrabert", "albert", "deberta", "xlm_roberta_xl", "roberta_prelayernorm", "megatron_bert", "roformer", "mobilebert"])
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
        cls_id = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id  # EuroBERT: <bos>
        seqs = [([cls_id], [0])] + encode(tok, QUERIES[:2], None) + [([cls_id], [0])]
    hidden, _ = run_packed(ours, seqs)
    assert hidden.shape == (sum(len(s) for s, _ in seqs), ref.config.hidden_size)
    assert_packed_equal_reference(ours, ref, seqs, logits=head == "seqcls", atol=ATOL)


def test_mlp_in_row_blocks_matches_transformers(tiny_model, monkeypatch):
    """A batch longer than one MLP block (4,096 rows; here forced to 5) runs the MLP block by block, in
    place: the same states as transformers."""
    from transformers import AutoTokenizer

    from multiscore.models import bert

    monkeypatch.setattr(bert, "_MLP_ROWS", 5)
    path = tiny_model("bert", "embed", num_labels=3)
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES, DOCS)
    assert sum(len(s) for s, _ in seqs) > 5
    assert_packed_equal_reference(load_ours(path), load_reference(path, "embed"), seqs, logits=False, atol=ATOL)


def test_padded_rows_do_not_leak(tiny_model):
    """A sequence's states do not depend on what is packed with it."""
    model = load_ours(tiny_model("bert", "seqcls", num_labels=3))
    ids = list(range(5, 25))
    alone, _ = run_packed(model, [(ids[3:10], [0] * 7)])
    packed, _ = run_packed(model, [(ids[:3], [0] * 3), (ids[3:10], [0] * 7), (ids[10:], [0] * 10)])
    torch.testing.assert_close(packed[3:10], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("head, architecture", [("seqcls", "CamembertForSequenceClassification"), ("embed", "CamembertModel"),
                                                ("tokcls", "CamembertForTokenClassification"),
                                                ("seqcls", "Data2VecTextForSequenceClassification"),
                                                ("embed", "Data2VecTextModel"), ("tokcls", "Data2VecTextForTokenClassification")])
def test_camembert_checkpoints_match_transformers(tiny_model, tmp_path, head, architecture):
    """CamemBERT and Data2Vec-Text are XLM-R's architecture under their own names: a tiny XLM-R saved as
    model_type camembert, or as data2vec-text with its backbone's tensors renamed ``data2vec_text.``."""
    import shutil

    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = tmp_path / "camembert"
    shutil.copytree(tiny_model("xlm_roberta", head, num_labels=3), path)
    config = json.loads((path / "config.json").read_text())
    model_type = "data2vec-text" if architecture.startswith("Data2Vec") else "camembert"
    (path / "config.json").write_text(json.dumps({**config, "model_type": model_type, "architectures": [architecture]}))
    if model_type == "data2vec-text":
        tensors = load_file(str(path / "model.safetensors"))
        if head != "embed":
            tensors = {name.replace("roberta.", "data2vec_text.", 1): t for name, t in tensors.items()}
        assert head == "embed" or any(name.startswith("data2vec_text.") for name in tensors)
        save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES[:2], DOCS[:2])
    ours = load_ours(path)
    ref = (AutoModelForTokenClassification.from_pretrained(path).eval() if head == "tokcls"
           else load_reference(path, head))
    assert type(ref).__name__ == architecture
    hidden, outputs = run_packed(ours, seqs)
    start = 0
    for i, (ids, types) in enumerate(seqs):
        expected = run_reference(ref, ids, types)
        rows = hidden[start : start + len(ids)]
        torch.testing.assert_close(rows, expected.hidden_states[-1][0], atol=ATOL, rtol=0)
        if head == "tokcls":  # the classifier on every token
            torch.testing.assert_close(ours.classifier(rows), expected.logits[0], atol=ATOL, rtol=0)
        if head == "seqcls":
            torch.testing.assert_close(outputs[i][0], expected.logits[0], atol=ATOL, rtol=0)
        start += len(ids)


def test_jina_reranker_v2_as_published_matches_transformers(tiny_model, tmp_path):
    """jina-reranker-v2-base-multilingual: XLM-R's layers under the flash implementation's names and a
    config.json without model_type, served without its remote code (transformers runs the original)."""
    from transformers import AutoTokenizer

    from remote_code_checkpoints import as_jina_reranker_v2

    original = tiny_model("xlm_roberta", "seqcls", num_labels=1)
    path = as_jina_reranker_v2(original, tmp_path / "jina-reranker-v2")
    assert "model_type" not in json.loads((path / "config.json").read_text())
    ours, ref = load_ours(path), load_reference(original, "seqcls")
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES, DOCS)
    _, outputs = run_packed(ours, seqs)
    for i, (ids, types) in enumerate(seqs):
        torch.testing.assert_close(outputs[i][0], run_reference(ref, ids, types).logits[0], atol=ATOL, rtol=0)


def test_xlm_roberta_positions_start_after_padding(tiny_model):
    path = tiny_model("xlm_roberta", "embed")
    model = load_ours(path)
    pad = json.loads((path / "config.json").read_text())["pad_token_id"]
    assert pad == 1 and model.model.position_offset == pad + 1
    assert get_model_class("BertModel")(model.config).model.position_offset == 0


@pytest.mark.parametrize("arch", ["bert", "xlm_roberta", "roberta", "electra"])
def test_seqcls_kind_and_names(tiny_model, arch):
    ours = load_ours(tiny_model(arch, "seqcls", num_labels=3))
    assert ours.kind is ModelKind.ENCODER_CLASSIFIER and ours.kind.bidirectional
    prefix = {"bert": "bert.", "electra": "electra."}.get(arch, "roberta.")
    names = [n for n, _ in ours.named_parameters()]
    assert all(n.startswith((prefix, "classifier.")) for n in names)
    assert (prefix + "pooler.dense.weight" in names) == (arch == "bert")  # XLM-R SeqCls has no pooler
    assert prefix + "encoder.layer.0.attention.self.qkv.weight" in names  # query/key/value, fused


def test_a_bare_checkpoint_loads_with_or_without_its_pooler(tiny_model, tmp_path):
    """The bare encoder never reads BERT's pooler: a checkpoint's pooler.* goes unused, and one
    without it loads to the same model."""
    import shutil

    path = tiny_model("bert", "embed")
    stripped = tmp_path / "no-pooler"
    shutil.copytree(path, stripped)
    tensors = load_file(path / "model.safetensors")
    assert any(name.startswith("pooler.") for name in tensors)
    save_file({k: v for k, v in tensors.items() if not k.startswith("pooler.")}, stripped / "model.safetensors")
    a, b = load_ours(path), load_ours(stripped)
    assert not any("pooler" in n for n, _ in a.named_parameters())
    seqs = [(list(range(5, 9)), [0] * 4), (list(range(9, 15)), [0] * 6)]
    torch.testing.assert_close(run_packed(a, seqs)[0], run_packed(b, seqs)[0], atol=0, rtol=0)


@pytest.mark.parametrize("act", ["gelu_new", "relu"])
def test_other_activations(tiny_model, act):
    from transformers import AutoConfig
    from transformers import BertModel as HFBertModel

    path = tiny_model("bert", "embed")
    config = AutoConfig.from_pretrained(path, hidden_act=act)
    ref = HFBertModel.from_pretrained(path, config=config, dtype=torch.float32).eval()
    ours = load_ours(path, json_model_override_args=json.dumps({"hidden_act": act}))
    ids = list(range(5, 17))
    with torch.no_grad():
        expected = ref(input_ids=torch.tensor([ids])).last_hidden_state[0]
    torch.testing.assert_close(run_packed(ours, [(ids, [0] * 12)])[0], expected, atol=ATOL, rtol=0)


def test_too_long_a_sequence_is_refused(tiny_model):
    model = load_ours(tiny_model("bert", "embed"))
    with pytest.raises(ValueError, match="positions"):
        run_packed(model, [([5] * 600, [0] * 600)])
