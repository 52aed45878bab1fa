"""Build a tiny random Hugging Face checkpoint (config + safetensors + tokenizer) with no download.

Used by the tests, the demo and the benchmark. Importable (``make_tiny_model``, ``delimiter_id``)
and a CLI::

    python scripts/make_tiny_model.py --out DIR [--arch qwen3] [--head seqcls] [--num-labels 3]

The tokenizer is built with ``tokenizers`` over a fixed English word list: WordLevel for
``qwen3``/``llama`` (``llama`` prepends ``<bos>`` when ``add_special_tokens=True``, so
special-token handling is exercised), a byte-level BPE for ``qwen2`` (what ``AutoTokenizer``
rebuilds for that model type). ``<|sep|>`` is the MIS delimiter token of the decoder archs.

The encoder archs ``bert`` and ``xlm_roberta`` (heads ``seqcls`` and ``embed``, the bare
encoder) get the tokenizer of their kind: lowercasing WordPiece with ``[CLS] A [SEP] B [SEP]``
and token types 0/1 for ``bert``; a SentencePiece-style Unigram with ``<s> A </s></s> B </s>``
for ``xlm_roberta``. ``AutoTokenizer`` rebuilds them as ``BertTokenizer`` /
``XLMRobertaTokenizer`` and gives the same ids.
"""

from __future__ import annotations

import argparse
import json
import pathlib

ARCHS = ("qwen3", "qwen2", "llama")  # decoder archs: the MIS delimiter, heads HEADS
HEADS = ("causal", "seqcls")
ENCODER_ARCHS = ("bert", "xlm_roberta")
ENCODER_HEADS = ("seqcls", "embed")  # embed: the bare encoder (BertModel / XLMRobertaModel)
ALL_ARCHS = ARCHS + ENCODER_ARCHS
ALL_HEADS = ("causal", "seqcls", "embed")
DELIMITER = "<|sep|>"
SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>", DELIMITER]

# Fixed vocabulary: ids are stable across runs (special tokens first, then words in this order).
WORDS = """
what is the capital of california sacramento los angeles san francisco city state country
which where who when why how a an and or not but if then else this that these those it its
are was were be been being have has had do does did can could will would should may might
must shall i you he she we they me him her us them my your his our their in on at by for
with from to into onto over under about above below between after before during up down out
off again new old big small large little good bad best worst first last long short high low
river mountain lake ocean sea bay valley desert forest north south east west coast beach
population people person man woman child family friend house home school book paper music
movie game sport team player coach ball goal win lose score rank item query answer question
yes no true false red green blue yellow black white cat dog bird fish tree flower apple
banana orange water fire earth air sun moon star sky day night time year month week hour
""".split()
DIGITS = list("0123456789")
PUNCT = list(".,?!:;'\"()-")
ARCH_PREFIX = {"qwen3": "Qwen3", "qwen2": "Qwen2", "llama": "Llama", "bert": "Bert", "xlm_roberta": "XLMRoberta"}
BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4, as in BERT's vocab
BERT_SUFFIXES = ["##s", "##es", "##ed", "##ing", "##ly"]  # WordPiece continuations ("cats" -> cat ##s)
XLMR_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, as in XLM-R's vocab
SPIECE = "\u2581"  # SentencePiece's word-start marker


def _vocab() -> dict[str, int]:
    tokens = SPECIAL_TOKENS + WORDS + DIGITS + PUNCT
    assert len(tokens) == len(set(tokens)), "duplicate token in the word list"
    return {tok: i for i, tok in enumerate(tokens)}


def build_tokenizer(arch: str = "qwen3"):
    """A fast tokenizer over the fixed vocabulary (no network).

    ``qwen3``/``llama``: WordLevel + Whitespace (``llama`` prepends ``<bos>``).
    ``qwen2``: a byte-level BPE trained here on the same words, wrapped in ``Qwen2Tokenizer``:
    ``AutoTokenizer`` always rebuilds a ``qwen2`` checkpoint's tokenizer as ``Qwen2Tokenizer``
    (BPE + byte-level pre-tokenizer), so a WordLevel tokenizer would not survive a reload.
    ``bert`` / ``xlm_roberta``: WordPiece / Unigram, wrapped in ``BertTokenizer`` /
    ``XLMRobertaTokenizer`` for the same reason (see their builders).
    """
    if arch == "qwen2":
        return _build_qwen2_tokenizer()
    if arch == "bert":
        return _build_bert_tokenizer()
    if arch == "xlm_roberta":
        return _build_xlm_roberta_tokenizer()
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = _vocab()
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if arch == "llama":
        # Llama-style: <bos> before every encoded text when add_special_tokens=True.
        tok.post_processor = processors.TemplateProcessing(
            single="<bos> $A",
            pair="<bos> $A <bos> $B",
            special_tokens=[("<bos>", vocab["<bos>"])],
        )
    kwargs = dict(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<eos>",
        additional_special_tokens=[DELIMITER],
    )
    if arch == "llama":
        kwargs["bos_token"] = "<bos>"
    return PreTrainedTokenizerFast(**kwargs)


def _build_qwen2_tokenizer():
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    # Same normalizer/pre-tokenizer as Qwen2Tokenizer, so the trained merges fit it.
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=100_000,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [" ".join(WORDS + DIGITS + PUNCT)] * 3 + list(WORDS)
    tok.train_from_iterator(corpus, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=merges,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<eos>",
        additional_special_tokens=[DELIMITER],
    )


def _bert_vocab() -> dict[str, int]:
    tokens = BERT_SPECIAL_TOKENS + WORDS + DIGITS + PUNCT + BERT_SUFFIXES
    assert len(tokens) == len(set(tokens)), "duplicate token in the word list"
    return {tok: i for i, tok in enumerate(tokens)}


def _build_bert_tokenizer():
    """Lowercasing WordPiece, ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]`` (token types 0 / 1).

    Normalizer and pre-tokenizer are the ones ``BertTokenizer`` rebuilds on reload, so
    ``AutoTokenizer`` (which constructs the class from the saved vocab) gives the same ids.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizer

    vocab = _bert_vocab()
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return BertTokenizer(tokenizer_object=tok, do_lower_case=True)


def _xlm_roberta_pieces() -> list[tuple[str, float]]:
    """Unigram pieces with scores: specials, each word as ``▁word`` and ``▁Word`` (XLM-R is
    case-sensitive), then single characters so any ASCII text segments without ``<unk>``."""
    import string

    words = []
    for w in WORDS:
        words += [SPIECE + w, SPIECE + w.capitalize()]
    words += [SPIECE + c for c in DIGITS + PUNCT]
    chars = [SPIECE] + DIGITS + PUNCT + list(string.ascii_lowercase) + list(string.ascii_uppercase)
    pieces = list(dict.fromkeys(words + chars))  # ordered, no duplicates
    # Whole words score higher than the characters that spell them, so Unigram prefers words.
    return [(p, 0.0) for p in XLMR_SPECIAL_TOKENS] + [(p, -5.0 if len(p) > 1 else -10.0) for p in pieces]


def _build_xlm_roberta_tokenizer():
    """Unigram over ``▁``-prefixed words, ``<s> A </s>`` / ``<s> A </s></s> B </s>``, pad id 1.

    No normalizer and WhitespaceSplit + Metaspace: what ``XLMRobertaTokenizer`` rebuilds on
    reload from the saved pieces (a normalizer here would be dropped by that rebuild).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizer

    pieces = _xlm_roberta_pieces()
    ids = {p: i for i, (p, _) in enumerate(pieces)}
    tok = Tokenizer(models.Unigram(pieces, unk_id=ids["<unk>"], byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement=SPIECE, prepend_scheme="always"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=SPIECE, prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])],
    )
    return XLMRobertaTokenizer(tokenizer_object=tok)


def _round_up(n: int, multiple: int) -> int:
    return (n + multiple - 1) // multiple * multiple


def make_tiny_model(
    out_dir,
    arch: str = "qwen3",
    head: str = "seqcls",
    num_labels: int = 3,
    seed: int = 0,
    max_shard_size=None,
    **config_overrides,
) -> pathlib.Path:
    """Write a tiny random fp32 checkpoint for ``arch`` x ``head`` to ``out_dir``; return its path.

    Decoder archs (``ARCHS``) take ``head`` in ``HEADS``; encoder archs (``ENCODER_ARCHS``)
    take ``head`` in ``ENCODER_HEADS`` (``embed``: the bare ``BertModel`` / ``XLMRobertaModel``).
    ``max_shard_size`` (e.g. ``"100KB"``) makes a sharded checkpoint with
    ``model.safetensors.index.json``. ``config_overrides`` are set on the config before the
    model is built (e.g. ``tie_word_embeddings=True``).
    """
    import torch
    import transformers

    if arch not in ALL_ARCHS:
        raise ValueError(f"arch must be one of {ALL_ARCHS}, got {arch!r}")
    valid_heads = ENCODER_HEADS if arch in ENCODER_ARCHS else HEADS
    if head not in valid_heads:
        raise ValueError(f"head for arch {arch!r} must be one of {valid_heads}, got {head!r}")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(arch)
    if arch in ENCODER_ARCHS:
        arch_name, cfg = _encoder_config(arch, head, tokenizer)
    else:
        arch_name, cfg = _decoder_config(arch, head, tokenizer)
    if head == "seqcls":
        cfg["num_labels"] = num_labels
    cfg.update(config_overrides)
    config = getattr(transformers, ARCH_PREFIX[arch] + "Config")(**cfg)

    model_cls = getattr(transformers, arch_name)
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    with torch.no_grad():
        # Biases are zero after init; give them values so a loader that drops them is caught.
        gen = torch.Generator().manual_seed(seed + 1)
        for name, p in sorted(model.named_parameters()):
            if name.endswith(".bias"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
            elif arch in ENCODER_ARCHS and name.endswith("LayerNorm.weight"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)  # LayerNorm weights start at 1
    model.config.architectures = [arch_name]

    save_kwargs = {"safe_serialization": True}
    if max_shard_size is not None:
        save_kwargs["max_shard_size"] = max_shard_size
    try:
        model.save_pretrained(out, **save_kwargs)
    except TypeError:  # newer transformers dropped safe_serialization (always safetensors)
        save_kwargs.pop("safe_serialization")
        model.save_pretrained(out, **save_kwargs)
    tokenizer.save_pretrained(out)
    if arch == "bert":
        # transformers 5 saves only tokenizer.json; vocab.txt (one token per line, in id order)
        # is what BERT checkpoints ship and what vocab-file based loaders read.
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
        (out / "vocab.txt").write_text("".join(tok + "\n" for tok, _ in vocab), encoding="utf-8")
    return out


def _tiny_shape(tokenizer) -> dict:
    """What every tiny checkpoint shares: 2 layers, hidden 64, 4 heads, large random weights."""
    return dict(
        vocab_size=_round_up(len(tokenizer), 64), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, initializer_range=0.1,
    )


def _decoder_config(arch: str, head: str, tokenizer) -> tuple[str, dict]:
    arch_name = ARCH_PREFIX[arch] + ("ForCausalLM" if head == "causal" else "ForSequenceClassification")
    cfg = dict(
        **_tiny_shape(tokenizer),
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        pad_token_id=tokenizer.convert_tokens_to_ids("<pad>"),
        bos_token_id=tokenizer.convert_tokens_to_ids("<bos>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<eos>"),
        tie_word_embeddings=False,
        architectures=[arch_name],
    )
    if arch == "qwen3":
        cfg["head_dim"] = 16
    return arch_name, cfg


def _encoder_config(arch: str, head: str, tokenizer) -> tuple[str, dict]:
    arch_name = ARCH_PREFIX[arch] + ("Model" if head == "embed" else "ForSequenceClassification")
    cfg = dict(
        **_tiny_shape(tokenizer),
        max_position_embeddings=512,
        hidden_act="gelu",
        pad_token_id=tokenizer.pad_token_id,
        architectures=[arch_name],
    )
    if arch == "bert":
        cfg.update(type_vocab_size=2, layer_norm_eps=1e-12)
    else:  # XLM-R: one token type; positions start at pad_token_id + 1
        cfg.update(
            type_vocab_size=1,
            layer_norm_eps=1e-5,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return arch_name, cfg


def delimiter_id(out_dir) -> int:
    """The token id of the MIS delimiter ``<|sep|>`` in the checkpoint's tokenizer (decoder archs)."""
    data = json.loads((pathlib.Path(out_dir) / "tokenizer.json").read_text())
    for added in data.get("added_tokens", []):
        if added["content"] == DELIMITER:
            return int(added["id"])
    vocab = data["model"]["vocab"]
    if not isinstance(vocab, dict) or DELIMITER not in vocab:
        raise ValueError(f"the tokenizer in {out_dir} has no {DELIMITER} token (an encoder checkpoint?)")
    return int(vocab[DELIMITER])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--arch", default="qwen3", choices=ALL_ARCHS)
    parser.add_argument("--head", default="seqcls", choices=ALL_HEADS, help="embed: encoder archs only")
    parser.add_argument("--num-labels", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-shard-size", default=None, help='e.g. "100KB" for a sharded checkpoint')
    args = parser.parse_args(argv)
    path = make_tiny_model(
        args.out,
        arch=args.arch,
        head=args.head,
        num_labels=args.num_labels,
        seed=args.seed,
        max_shard_size=args.max_shard_size,
    )
    print(f"model: {path}")
    if args.arch in ARCHS:
        print(f"delimiter_id: {delimiter_id(path)}")


if __name__ == "__main__":
    main()
