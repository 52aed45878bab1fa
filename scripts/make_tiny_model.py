"""Build a tiny random Hugging Face checkpoint (config + safetensors + tokenizer) with no download.

Used by the tests, the demo and the benchmark. Importable (``make_tiny_model``, ``delimiter_id``)
and a CLI::

    python scripts/make_tiny_model.py --out DIR [--arch qwen3] [--head seqcls] [--num-labels 3]

The tokenizer is built with ``tokenizers`` over a fixed English word list: WordLevel for
``qwen3``/``llama`` (``llama`` prepends ``<bos>`` when ``add_special_tokens=True``, so
special-token handling is exercised), a byte-level BPE for ``qwen2`` (what ``AutoTokenizer``
rebuilds for that model type). ``<|sep|>`` is the MIS delimiter token.
"""

from __future__ import annotations

import argparse
import json
import pathlib

ARCHS = ("qwen3", "qwen2", "llama")
HEADS = ("causal", "seqcls")
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
ARCH_PREFIX = {"qwen3": "Qwen3", "qwen2": "Qwen2", "llama": "Llama"}


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
    """
    if arch == "qwen2":
        return _build_qwen2_tokenizer()
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

    ``max_shard_size`` (e.g. ``"100KB"``) makes a sharded checkpoint with
    ``model.safetensors.index.json``. ``config_overrides`` are set on the config before the
    model is built (e.g. ``tie_word_embeddings=True``).
    """
    import torch
    import transformers

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(arch)
    pad_id = tokenizer.convert_tokens_to_ids("<pad>")
    bos_id = tokenizer.convert_tokens_to_ids("<bos>")
    eos_id = tokenizer.convert_tokens_to_ids("<eos>")

    prefix = ARCH_PREFIX[arch]
    arch_name = prefix + ("ForCausalLM" if head == "causal" else "ForSequenceClassification")
    config_cls = getattr(transformers, prefix + "Config")
    cfg = dict(
        vocab_size=_round_up(len(tokenizer), 64),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        initializer_range=0.1,
        rms_norm_eps=1e-6,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=False,
        architectures=[arch_name],
    )
    if arch == "qwen3":
        cfg["head_dim"] = 16
    if head == "seqcls":
        cfg["num_labels"] = num_labels
    cfg.update(config_overrides)
    config = config_cls(**cfg)

    model_cls = getattr(transformers, arch_name)
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    with torch.no_grad():
        # Biases are zero after init; give them values so a loader that drops them is caught.
        gen = torch.Generator().manual_seed(seed + 1)
        for name, p in sorted(model.named_parameters()):
            if name.endswith(".bias"):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
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
    return out


def delimiter_id(out_dir) -> int:
    """The token id of the MIS delimiter ``<|sep|>`` in the checkpoint's tokenizer."""
    data = json.loads((pathlib.Path(out_dir) / "tokenizer.json").read_text())
    for added in data.get("added_tokens", []):
        if added["content"] == DELIMITER:
            return int(added["id"])
    return int(data["model"]["vocab"][DELIMITER])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--arch", default="qwen3", choices=ARCHS)
    parser.add_argument("--head", default="seqcls", choices=HEADS)
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
    print(f"delimiter_id: {delimiter_id(path)}")


if __name__ == "__main__":
    main()
