"""The tiny checkpoints' tokenizers (see make_tiny_model.py), built with ``tokenizers`` over a fixed
English word list, no download.

WordLevel for ``qwen3``/``llama`` (``llama`` prepends ``<bos>`` when ``add_special_tokens=True``, so
special-token handling is exercised), a byte-level BPE for ``qwen2`` (what ``AutoTokenizer``
rebuilds for that model type). ``<|sep|>`` is the MIS delimiter token of the decoder archs.

The encoder archs get the tokenizer of their kind: lowercasing WordPiece with
``[CLS] A [SEP] B [SEP]`` and token types 0/1 for ``bert``; a SentencePiece-style Unigram with
``<s> A </s></s> B </s>`` for ``xlm_roberta``. ``AutoTokenizer`` rebuilds them as ``BertTokenizer`` /
``XLMRobertaTokenizer`` and gives the same ids.
"""

from __future__ import annotations

import json
import pathlib

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

    ``qwen3``/``llama``/``gemma``/``mistral``: WordLevel + Whitespace (all but ``qwen3`` prepend ``<bos>``).
    ``qwen2``: a byte-level BPE trained here on the same words, wrapped in ``Qwen2Tokenizer``:
    ``AutoTokenizer`` always rebuilds a ``qwen2`` checkpoint's tokenizer as ``Qwen2Tokenizer``
    (BPE + byte-level pre-tokenizer), so a WordLevel tokenizer would not survive a reload.
    ``bert`` / ``xlm_roberta``: WordPiece / Unigram, wrapped in ``BertTokenizer`` /
    ``XLMRobertaTokenizer`` for the same reason (see their builders).
    """
    if arch == "qwen2":
        return _build_qwen2_tokenizer()
    if arch in ("bert", "electra", "distilbert", "modernbert", "nomic_bert", "deberta_v2", "ernie", "ultrabert", "albert", "deberta", "megatron_bert", "roformer", "mobilebert"):  # BERT's WordPiece vocabulary (ModernBERT: a BPE, same role)
        return _build_bert_tokenizer()
    if arch in ("xlm_roberta", "gte", "jina_embeddings_v3", "xlm_roberta_xl"):  # gte-multilingual and jina-embeddings-v3 ship XLM-R's tokenizer
        return _build_xlm_roberta_tokenizer()
    if arch in ("roberta", "bart", "roberta_prelayernorm"):  # BART ships RoBERTa's byte-level BPE and specials
        return _build_roberta_tokenizer()
    if arch == "mpnet":
        return _build_mpnet_tokenizer()
    if arch == "esm":
        return _build_esm_tokenizer()
    if arch == "spiece":
        return _build_spiece_tokenizer()
    if arch == "gritlm":
        return _build_gritlm_tokenizer()
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = _vocab()
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if arch in ("llama", "gemma", "gemma2", "gemma3", "mistral", "phi3"):
        # Llama-style: <bos> before every encoded text when add_special_tokens=True.
        tok.post_processor = processors.TemplateProcessing(
            single="<bos> $A",
            pair="<bos> $A <bos> $B",
            special_tokens=[("<bos>", vocab["<bos>"])],
        )
    if arch == "eurobert":  # EuroBERT: <bos> text <eos>, a pair's second text also closed by <eos>
        tok.post_processor = processors.TemplateProcessing(
            single="<bos> $A <eos>",
            pair="<bos> $A <eos> $B <eos>",
            special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])],
        )
    kwargs = dict(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<eos>",
        additional_special_tokens=[DELIMITER],
    )
    if arch in ("llama", "gemma", "gemma2", "gemma3", "mistral", "phi3", "eurobert"):
        kwargs["bos_token"] = "<bos>"
    return PreTrainedTokenizerFast(**kwargs)


def _build_spiece_tokenizer():
    """A BPE over whole texts as Llama's SentencePiece tokenizes them (MiniCPM ships Llama's): spaces as
    ``▁``, one ``▁`` before each text, no pre-splitting; so a text tokenized alone (a newline: ``▁``,
    ``\n``) gives other ids than inside a longer one. <bos> before every encoded text. 240 tokens."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPIECE), normalizers.Replace(" ", SPIECE)])
    tok.decoder = decoders.Sequence([decoders.Replace(SPIECE, " "), decoders.Strip(" ", 1, 0)])
    alphabet = sorted(set("".join(WORDS)) | set(DIGITS) | set(PUNCT) | {"\n", SPIECE, "A", "B", "G", "I"})
    trainer = trainers.BpeTrainer(vocab_size=240, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet,
                                  show_progress=False)
    tok.train_from_iterator([" ".join(WORDS[i:i + 8]) for i in range(0, len(WORDS), 3)], trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>",
                                   bos_token="<bos>", additional_special_tokens=[DELIMITER])


def _build_gritlm_tokenizer():
    """Mistral's SentencePiece tokenizer (GritLM ships it) as far as GritLM's prompt markers go: ``<s>``
    first, ``▁`` for a space and before the text, a byte piece for what the vocabulary lacks (a newline
    is ``<0x0A>``), and ``<|user|>`` / ``<|embed|>`` in the pieces Mistral's vocabulary splits them into
    (``▁<`` at a word's start, else ``<``; ``|``; ``user`` / ``embed``; ``|``; ``>``). Other words are
    spelled letter by letter. No pad token (GritLM's reference pads with ``</s>``)."""
    import string

    from tokenizers import Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    merges = [(SPIECE, "<"), ("u", "s"), ("us", "e"), ("use", "r"), ("e", "m"), ("em", "b"), ("emb", "e"), ("embe", "d")]
    pieces = (["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [SPIECE, "<", "|", ">"] + DIGITS + PUNCT
              + list(string.ascii_letters) + ["".join(pair) for pair in merges])
    tok = Tokenizer(models.BPE({p: i for i, p in enumerate(pieces)}, merges, unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPIECE), normalizers.Replace(" ", SPIECE)])
    tok.decoder = decoders.Sequence([decoders.Replace(SPIECE, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


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


def _build_roberta_tokenizer():
    """RoBERTa's byte-level BPE (trained here on the word list), ``<s> A </s>`` /
    ``<s> A </s></s> B </s>``, pad id 1, wrapped in ``RobertaTokenizer``: what ``AutoTokenizer``
    rebuilds a ``roberta`` checkpoint's tokenizer as."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import RobertaTokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=100_000, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator([" ".join(WORDS + DIGITS + PUNCT)] * 3 + [" " + w for w in WORDS], trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return RobertaTokenizer(vocab=model["vocab"], merges=merges)


def _build_esm_tokenizer():
    """ESM-2's: one token per amino-acid letter, ``<cls> seq <eos>``, pad id 1, ``<mask>`` 32, as
    ``EsmTokenizer`` (built from a vocab file, as its checkpoints ship it)."""
    import tempfile

    from transformers import EsmTokenizer

    tokens = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
    with tempfile.TemporaryDirectory() as tmp:
        vocab = pathlib.Path(tmp) / "vocab.txt"
        vocab.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
        return EsmTokenizer(str(vocab))


def _build_mpnet_tokenizer():
    """MPNet's: BERT's lowercasing WordPiece with RoBERTa's specials (``<s> A </s>``, ``<s> A </s></s> B
    </s>``, pad id 1, no token types), as ``MPNetTokenizer``, which ``AutoTokenizer`` rebuilds."""
    from transformers import MPNetTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "[UNK]": 3}
    for token in _bert_vocab():
        if token not in vocab and token not in ("[CLS]", "[SEP]", "[PAD]", "[MASK]"):
            vocab[token] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return MPNetTokenizer(vocab=vocab, unk_token="[UNK]")


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
