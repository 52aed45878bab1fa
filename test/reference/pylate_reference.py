"""The ColBERT reference we did not write: pylate, run in its own venv (test/reference/setup.sh).

Run with the pylate venv's python, never the project's (pylate pins older transformers and
sentence-transformers); it imports only the stdlib, torch, transformers, safetensors,
sentence_transformers and pylate. Logs go to stderr; each subcommand prints one JSON object to
stdout.

    make-pylate   --base DIR --out DIR [--embedding-size 16] [--query-length 8] [--document-length 12]
                  [--attend-to-expansion-tokens] [--no-query-expansion] [--seed 0]
                  [--keep-prefix-init] [--keep-saved-names]
        A pylate checkpoint (what ``models.ColBERT(base).save(out)`` writes: the encoder with the
        "[Q] "/"[D] " prefix tokens added, a 1_Dense projection, modules.json,
        config_sentence_transformers.json), reloaded to check that the settings and the
        embeddings round-trip. Two departures from a bare save, each with a flag to skip it: the
        "[Q] "/"[D] " embedding rows get distinct random values (pylate's resize makes them nearly
        equal: --keep-prefix-init), and the LayerNorm tensors transformers 5.3 saves as gamma/beta
        are renamed back to weight/bias, as published checkpoints have them (--keep-saved-names).
    make-stanford --base DIR --out DIR [--dim 16] [--query-maxlen 8] [--doc-maxlen 12]
                  [--attend-to-mask-tokens] [--seed 0]
        An original Stanford ColBERT checkpoint (as colbert-ir/colbertv2.0 ships): the encoder's
        weights under ``<base_model_prefix>.*`` plus ``linear.weight`` [dim, hidden] in
        model.safetensors, config.json with ``architectures: ["HF_ColBERT"]`` and ``dim``,
        the tokenizer (with [unused0]/[unused1] in its vocabulary) and artifact.metadata.
        Reloaded with pylate to check that it is read as a Stanford model.
    encode        --model DIR --queries JSON_LIST --documents JSON_LIST
        pylate's embeddings of the queries and the documents (``ColBERT.encode``: normalized,
        documents without their skiplist/padding tokens, queries with their expansion tokens),
        the scores of every query against every document (``pylate.scores.colbert_scores``, one
        pair at a time, so no padding enters the max), the tokens behind the embeddings, and
        the settings pylate resolved.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import pathlib
import shutil
import sys

LOG = logging.getLogger("pylate_reference")

# Files of a Hugging Face tokenizer; copied from the base into a Stanford checkpoint.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "added_tokens.json", "sentencepiece.bpe.model", "spiece.model", "merges.txt", "vocab.json")
STANFORD_QUERY_TOKEN = "[unused0]"
STANFORD_DOC_TOKEN = "[unused1]"


class _Capture(logging.Handler):
    """Keeps the messages logged while it is attached (to check what pylate said it did)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _setup() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    # Tiny models on a small, busy machine: one thread is much faster than several (OpenMP spinning).
    torch.set_num_threads(1)


def _load(model_dir) -> tuple:
    """``models.ColBERT(model_dir)`` on the CPU, with the messages pylate logged while loading."""
    from pylate import models

    capture = _Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        model = models.ColBERT(model_name_or_path=str(model_dir), device="cpu")
    finally:
        root.removeHandler(capture)
    model.eval()
    return model, capture.messages


def settings(model) -> dict:
    """The settings pylate resolved for ``model`` (after its config files and its defaults)."""
    tok = model.tokenizer
    return {
        "query_prefix": model.query_prefix,
        "document_prefix": model.document_prefix,
        "query_prefix_id": model.query_prefix_id,
        "document_prefix_id": model.document_prefix_id,
        "query_length": model.query_length,
        "document_length": model.document_length,
        "do_query_expansion": model.do_query_expansion,
        "attend_to_expansion_tokens": model.attend_to_expansion_tokens,
        "skiplist_words": list(model.skiplist_words),
        "skiplist_ids": [int(i) for i in model.skiplist],  # convert_tokens_to_ids per word: unknown words give unk_token_id
        "pad_token_id": tok.pad_token_id,  # pylate sets it to the [MASK] id (or EOS): the query expansion token
        "mask_token_id": tok.mask_token_id,
        "unk_token_id": tok.unk_token_id,
        "len_tokenizer": len(tok),
        "vocab_size": model[0].auto_model.config.vocab_size,
        "embedding_size": model[-1].out_features,
        "modules": [type(m).__module__ + "." + type(m).__name__ for m in model],
    }


def _tokens(model, texts: list[str], is_query: bool) -> list[dict]:
    """The tokens behind ``ColBERT.encode``'s embeddings, from its ``output_value=None`` path.

    ``input_ids``/``attention_mask``: what the encoder was fed. For documents (and for queries
    without expansion) they are cut to the text's own length, since the rest is batch padding;
    queries with expansion keep all ``query_length`` positions. ``kept``: which positions
    ``encode`` keeps (documents: not padding, not in the skiplist).
    """
    out = model.encode(texts, is_query=is_query, show_progress_bar=False, output_value=None)
    rows = []
    for ids, att, kept in zip(out["input_ids"], out["attention_mask"], out["masks"]):
        ids, att, kept = ids.tolist(), att.tolist(), [bool(k) for k in kept.tolist()]
        if not (is_query and model.do_query_expansion):
            n = int(sum(att))
            ids, att, kept = ids[:n], att[:n], kept[:n]
        rows.append({"input_ids": ids, "attention_mask": att, "kept": kept,
                     "tokens": model.tokenizer.convert_ids_to_tokens(ids)})
    return rows


def cmd_encode(args) -> dict:
    import torch
    from pylate import scores as pylate_scores

    queries = json.loads(args.queries)
    documents = json.loads(args.documents)
    if not (isinstance(queries, list) and isinstance(documents, list) and queries and documents):
        raise SystemExit("--queries and --documents must be non-empty JSON lists of strings")
    model, _ = _load(args.model)
    q_emb = model.encode(queries, is_query=True, show_progress_bar=False, convert_to_tensor=True)
    d_emb = model.encode(documents, is_query=False, show_progress_bar=False, convert_to_tensor=True)
    # One (query, document) pair per call: colbert_scores zeroes masked similarities rather than
    # dropping them, so padding a batch of documents could change a max over all-negative values.
    score_rows = [[float(pylate_scores.colbert_scores(q[None], d[None])[0, 0]) for d in d_emb] for q in q_emb]
    return {
        "settings": settings(model),
        "query_embeddings": [e.to(torch.float32).tolist() for e in q_emb],
        "document_embeddings": [e.to(torch.float32).tolist() for e in d_emb],
        "scores": score_rows,
        "query_tokens": _tokens(model, queries, is_query=True),
        "document_tokens": _tokens(model, documents, is_query=False),
    }


_PROBE_QUERIES = ["what is the capital of france", "a query that is much longer than the query length allows"]
_PROBE_DOCS = ["paris is the capital, of france.", "the (small) cat sat on the mat!"]


def _probe(model) -> tuple:
    import torch

    q = model.encode(_PROBE_QUERIES, is_query=True, show_progress_bar=False, convert_to_tensor=True)
    d = model.encode(_PROBE_DOCS, is_query=False, show_progress_bar=False, convert_to_tensor=True)
    return [e.to(torch.float32) for e in q], [e.to(torch.float32) for e in d]


def _same_embeddings(a, b) -> bool:
    import torch

    return all(len(x) == len(y) and all(torch.allclose(u, v, atol=1e-5) for u, v in zip(x, y)) for x, y in zip(a, b))


def _restore_layernorm_names(model_dir: pathlib.Path) -> list[str]:
    """Rename ``*.LayerNorm.gamma``/``.beta`` back to ``.weight``/``.bias`` in the encoder's safetensors.

    transformers 5.3 applies its load-time legacy renaming (gamma -> weight, beta -> bias) in reverse
    when it saves, so a BERT saved by it carries the names of 2018 TF ports; the checkpoints people
    publish (and every transformers release but this one writes) use weight/bias.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    index = model_dir / "model.safetensors.index.json"
    files = (sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists()
             else ["model.safetensors"])
    renamed: list[str] = []

    def fix(key: str) -> str:
        for old, new in ((".LayerNorm.gamma", ".LayerNorm.weight"), (".LayerNorm.beta", ".LayerNorm.bias")):
            if key.endswith(old):
                return key[: -len(old)] + new
        return key

    for name in files:
        path = model_dir / name
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata()
            tensors = {fix(k): f.get_tensor(k) for k in f.keys()}
            here = [k for k in f.keys() if fix(k) != k]
        if here:
            save_file(tensors, str(path), metadata=metadata)
            renamed += here
    if index.exists() and renamed:
        data = json.loads(index.read_text())
        data["weight_map"] = {fix(k): v for k, v in data["weight_map"].items()}
        index.write_text(json.dumps(data, indent=2) + "\n")
    return renamed


def _distinct_prefix_rows(model) -> None:
    """Give the "[Q] "/"[D] " embedding rows random values of the other rows' scale (seeded by the caller).

    pylate adds the prefix tokens with ``resize_token_embeddings``, whose mean resizing draws both
    new rows from N(mean, 1e-9 * cov): they come out nearly equal and near zero, so a checkpoint
    made from an untrained base could not tell the query prefix from the document prefix. Trained
    checkpoints have distinct rows; so should the test ones.
    """
    import torch

    ids = [i for i in (model.query_prefix_id, model.document_prefix_id) if i is not None]
    if not ids:
        return
    weight = model[0].auto_model.get_input_embeddings().weight
    others = torch.ones(weight.shape[0], dtype=torch.bool)
    others[ids] = False
    with torch.no_grad():
        std = weight[others].std()
        weight[ids] = torch.randn(len(ids), weight.shape[1], dtype=weight.dtype) * std


def cmd_make_pylate(args) -> dict:
    import torch
    from pylate import models

    out = pathlib.Path(args.out)
    torch.manual_seed(args.seed)
    model = models.ColBERT(
        model_name_or_path=args.base,
        embedding_size=args.embedding_size,
        query_length=args.query_length,
        document_length=args.document_length,
        attend_to_expansion_tokens=args.attend_to_expansion_tokens,
        do_query_expansion=not args.no_query_expansion,
        device="cpu",
    ).eval()
    if not args.keep_prefix_init:
        _distinct_prefix_rows(model)
    before = settings(model)
    probe = _probe(model)
    model.save(str(out), create_model_card=False)
    renamed = [] if args.keep_saved_names else _restore_layernorm_names(out)
    if renamed:
        LOG.info("renamed %d LayerNorm gamma/beta tensors back to weight/bias in %s", len(renamed), out)

    reloaded, _ = _load(out)
    after = settings(reloaded)
    if after != before:
        diff = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
        raise SystemExit(f"settings did not round-trip through {out}: {diff}")
    if not _same_embeddings(probe, _probe(reloaded)):
        raise SystemExit(f"embeddings changed when {out} was reloaded")
    LOG.info("pylate checkpoint written to %s; settings and embeddings round-trip", out)
    return {"model": str(out), "renamed_layernorm_tensors": len(renamed), "settings": after}


def _add_vocab_tokens(out: pathlib.Path, tokens: list[str]) -> dict:
    """Make ``tokens`` part of the tokenizer saved in ``out``; return {token: id} of all of them.

    WordPiece (BERT): appended to the vocabulary itself (tokenizer.json's model.vocab and
    vocab.txt), where BERT keeps its [unusedN] tokens. Other tokenizer models: added tokens.
    """
    from transformers import AutoTokenizer

    data = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    vocab, added = data["model"]["vocab"], data.get("added_tokens", [])
    present = set(vocab if isinstance(vocab, dict) else []) | {a["content"] for a in added}
    missing = [t for t in tokens if t not in present]
    if missing and data["model"]["type"] == "WordPiece":
        next_id = max(list(vocab.values()) + [a["id"] for a in added]) + 1
        for token in missing:
            vocab[token] = next_id
            next_id += 1
        (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        vocab_txt = out / "vocab.txt"
        if vocab_txt.exists():  # one token per line, in id order
            by_id = {i: t for t, i in vocab.items()} | {a["id"]: a["content"] for a in added}
            vocab_txt.write_text("".join(by_id[i] + "\n" for i in range(len(by_id))), encoding="utf-8")
        LOG.info("added %s to the WordPiece vocabulary", {t: vocab[t] for t in missing})
    elif missing:
        tok = AutoTokenizer.from_pretrained(str(out))
        tok.add_tokens(missing)
        tok.save_pretrained(str(out))
        LOG.info("added %s as added tokens", missing)
    tok = AutoTokenizer.from_pretrained(str(out))
    ids = {t: tok.convert_tokens_to_ids(t) for t in tokens}
    if any(i is None or i == tok.unk_token_id for i in ids.values()):
        raise SystemExit(f"the tokenizer in {out} does not know {tokens}: {ids}")
    return ids


def cmd_make_stanford(args) -> dict:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModel

    base, out = pathlib.Path(args.base), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (base / name).exists():
            shutil.copy2(base / name, out / name)
    token_ids = _add_vocab_tokens(out, [STANFORD_QUERY_TOKEN, STANFORD_DOC_TOKEN])

    config = AutoConfig.from_pretrained(str(base))
    encoder = AutoModel.from_pretrained(str(base), dtype=torch.float32).eval()
    prefix = encoder.base_model_prefix  # HF_ColBERT keeps the encoder under this attribute ("bert")
    state = {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in encoder.state_dict().items()}

    torch.manual_seed(args.seed)
    # Every token id must have an embedding row; grow the matrix (random rows) if the vocabulary outgrew it.
    needed = max(token_ids.values()) + 1
    if needed > config.vocab_size:
        emb_weight = encoder.get_input_embeddings().weight
        emb_key = prefix + "." + next(n for n, p in encoder.named_parameters() if p is emb_weight)
        old = state[emb_key]
        extra = torch.randn(needed - old.shape[0], old.shape[1]) * getattr(config, "initializer_range", 0.02)
        state[emb_key] = torch.cat([old, extra.to(old.dtype)])
        LOG.info("resized %s from %d to %d rows", emb_key, old.shape[0], needed)
        config.vocab_size = needed
    hidden = config.hidden_size
    linear = torch.nn.Linear(hidden, args.dim, bias=False)
    state["linear.weight"] = linear.weight.detach().clone().contiguous()
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})

    cfg = config.to_dict()
    cfg["architectures"] = ["HF_ColBERT"]
    cfg["dim"] = args.dim
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    metadata = {
        "query_token_id": STANFORD_QUERY_TOKEN,
        "doc_token_id": STANFORD_DOC_TOKEN,
        "query_token": "[Q]",
        "doc_token": "[D]",
        "query_maxlen": args.query_maxlen,
        "doc_maxlen": args.doc_maxlen,
        "attend_to_mask_tokens": args.attend_to_mask_tokens,
        "mask_punctuation": True,
        "dim": args.dim,
        "similarity": "cosine",
        "interaction": "colbert",
    }
    (out / "artifact.metadata").write_text(json.dumps(metadata, indent=4) + "\n", encoding="utf-8")

    model, messages = _load(out)
    got = settings(model)
    expected = {"query_prefix": STANFORD_QUERY_TOKEN, "document_prefix": STANFORD_DOC_TOKEN,
                "query_prefix_id": token_ids[STANFORD_QUERY_TOKEN], "document_prefix_id": token_ids[STANFORD_DOC_TOKEN],
                "query_length": args.query_maxlen, "document_length": args.doc_maxlen,
                "attend_to_expansion_tokens": args.attend_to_mask_tokens, "embedding_size": args.dim}
    wrong = {k: (v, got[k]) for k, v in expected.items() if got[k] != v}
    if wrong:
        raise SystemExit(f"pylate read the Stanford checkpoint {out} differently: {wrong}")
    if not any("Loaded the weights from Stanford NLP model" in m for m in messages):
        raise SystemExit(f"pylate did not load {out} as a Stanford NLP model; it logged {messages}")
    if len(model) != 2 or not torch.equal(model[1].linear.weight, state["linear.weight"]):
        raise SystemExit(f"pylate did not take linear.weight from {out} as its projection")
    # The encoder must come from the prefixed weights, not a fresh init (a prefix it failed to strip).
    loaded = model[0].auto_model.state_dict()
    missing = sorted(set(encoder.state_dict()) - set(loaded))
    if missing:
        raise SystemExit(f"pylate's encoder for {out} lacks the base's weights {missing}")
    for key, value in encoder.state_dict().items():
        got_value = loaded[key]
        n = min(value.shape[0], got_value.shape[0]) if value.dim() else None
        same = torch.equal(value, got_value) if n is None else torch.equal(value[:n], got_value[:n])
        if not same:
            raise SystemExit(f"pylate's encoder weight {key} differs from the base's: {out} was not read as saved")
    LOG.info("Stanford checkpoint written to %s; pylate loads it as a Stanford NLP model", out)
    return {"model": str(out), "token_ids": token_ids, "settings": got}


def _run(parser: argparse.ArgumentParser, argv: list[str]):
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("make-pylate", help="a pylate ColBERT checkpoint from a base encoder")
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--embedding-size", type=int, default=16)
    p.add_argument("--query-length", type=int, default=8)
    p.add_argument("--document-length", type=int, default=12)
    p.add_argument("--attend-to-expansion-tokens", action="store_true")
    p.add_argument("--no-query-expansion", action="store_true")
    p.add_argument("--keep-prefix-init", action="store_true",
                   help="keep pylate's near-identical initial [Q]/[D] embedding rows (default: random distinct rows)")
    p.add_argument("--keep-saved-names", action="store_true",
                   help="keep the LayerNorm.gamma/beta names transformers 5.3 saves (default: rename to weight/bias)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_pylate)

    p = sub.add_parser("make-stanford", help="an original Stanford ColBERT checkpoint from a base encoder")
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--query-maxlen", type=int, default=8)
    p.add_argument("--doc-maxlen", type=int, default=12)
    p.add_argument("--attend-to-mask-tokens", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_stanford)

    p = sub.add_parser("encode", help="pylate's embeddings and MaxSim scores, as JSON")
    p.add_argument("--model", required=True)
    p.add_argument("--queries", required=True, help="JSON list of strings")
    p.add_argument("--documents", required=True, help="JSON list of strings")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("batch", help="several of these commands in one process (one start-up), as a JSON list of "
                       "argument lists; prints the list of their results")
    p.add_argument("--commands", required=True)
    p.set_defaults(func=lambda batch: [_run(parser, command) for command in json.loads(batch.commands)])

    args = parser.parse_args(argv)
    _setup()
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # anything a library prints stays off the JSON
        result = args.func(args)
    json.dump(result, stdout)
    stdout.write("\n")
    stdout.flush()


if __name__ == "__main__":
    main()
