"""The reference we did not write: ``transformers`` scoring each item alone, in fp32.

Follows DESIGN.md §3: one forward per ``query + item`` (``item + query`` with ``item_first``),
read out at the last token. CausalLM: ``apply_softmax=False`` -> full-vocabulary probabilities of
the labels, ``True`` -> softmax over the label logits only. SeqCls: the head's logits
(softmax over classes with ``apply_softmax``).
"""

from __future__ import annotations

import functools
import json
import pathlib

import torch


@functools.lru_cache(maxsize=None)
def _config(model_dir: str) -> dict:
    return json.loads((pathlib.Path(model_dir) / "config.json").read_text())


def is_causal(model_dir) -> bool:
    return _config(str(model_dir))["architectures"][0].endswith(("ForCausalLM", "LMHeadModel"))  # GPT-2's LM: GPT2LMHeadModel


@functools.lru_cache(maxsize=None)
def load_model(model_dir: str, dtype: torch.dtype = torch.float32):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    # Tiny matmuls: one thread is ~1000x faster than two on a busy 2-core machine (OpenMP spinning),
    # and the reference runs only in the test process.
    torch.set_num_threads(1)
    cls = AutoModelForCausalLM if is_causal(model_dir) else AutoModelForSequenceClassification
    kw = {}
    if (_config(model_dir).get("quantization_config") or {}).get("quant_method") == "mxfp4":
        from transformers import Mxfp4Config

        kw["quantization_config"] = Mxfp4Config(dequantize=True)  # GPT-OSS's experts; no MXFP4 kernels on CPU
    try:
        model = cls.from_pretrained(model_dir, dtype=dtype, **kw)
    except ValueError:  # a class the Auto mapping leaves out (Mistral4ForCausalLM): the one the config names
        import transformers

        cls = getattr(transformers, _config(model_dir)["architectures"][0])
        model = cls.from_pretrained(model_dir, dtype=dtype, **kw)
    return model.to(dtype).eval()


@functools.lru_cache(maxsize=None)
def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def hf_tokenize(model_dir, query: str, items: list[str]) -> tuple[list[int], list[list[int]]]:
    """Query with the tokenizer's special tokens, each item without (DESIGN.md §3)."""
    tok = load_tokenizer(str(model_dir))
    query_ids = tok(query, add_special_tokens=True)["input_ids"]
    items_ids = [tok(item, add_special_tokens=False)["input_ids"] for item in items]
    return list(query_ids), [list(ids) for ids in items_ids]


@torch.no_grad()
def hf_scores(
    model_dir,
    query_ids: list[int],
    items_ids: list[list[int]],
    label_token_ids: list[int] | None = None,
    apply_softmax: bool = False,
    item_first: bool = False,
    dtype: torch.dtype = torch.float32,
) -> list[list[float]]:
    """Score each item alone with ``transformers`` (one forward per item), computing in ``dtype``."""
    model_dir = str(model_dir)
    model = load_model(model_dir, dtype)
    causal = is_causal(model_dir)
    if causal and not label_token_ids:
        raise ValueError("CausalLM scoring needs label_token_ids")
    rows = []
    for item in items_ids:
        ids = list(item) + list(query_ids) if item_first else list(query_ids) + list(item)
        assert ids, "query + item is empty: nothing to score"
        input_ids = torch.tensor([ids], dtype=torch.long)
        attention_mask = torch.ones_like(input_ids)
        out = model(input_ids=input_ids, attention_mask=attention_mask)
        if causal:
            logits = out.logits[0, -1].float()  # [V]
            labels = torch.tensor(label_token_ids, dtype=torch.long)
            if apply_softmax:
                row = torch.softmax(logits[labels], dim=-1)
            else:
                row = torch.log_softmax(logits, dim=-1)[labels].exp()
        else:
            row = out.logits[0].float()  # [num_labels]
            if apply_softmax:
                row = torch.softmax(row, dim=-1)
        rows.append(row.tolist())
    return rows


def assert_scores_close(actual, expected, atol: float = 1e-4) -> None:
    """Element-wise |actual - expected| <= atol, with a readable failure message."""
    assert len(actual) == len(expected), f"{len(actual)} score rows, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert len(a) == len(e), f"item {i}: {len(a)} scores, expected {len(e)}"
        diff = max((abs(x - y) for x, y in zip(a, e)), default=0.0)
        assert diff <= atol, f"item {i}: max |diff| {diff:.3g} > {atol}: got {a}, expected {e}"


@functools.lru_cache(maxsize=None)
def _bidirectional_llama(model_dir: str):
    """transformers' LlamaModel on a ``llama_bidirec`` checkpoint (NVIDIA's remote code: Llama's
    config plus pooling / temperature), every layer's causal flag off."""
    from transformers import LlamaConfig, LlamaModel

    raw = {k: v for k, v in _config(model_dir).items() if k not in ("model_type", "auto_map", "architectures")}
    model = LlamaModel.from_pretrained(model_dir, config=LlamaConfig(**raw), dtype=torch.float32).eval()
    for layer in model.layers:
        layer.self_attn.is_causal = False
    return model


def bidirectional_llama_hidden(model_dir, ids: list[int]) -> torch.Tensor:
    """NVIDIA's LlamaBidirectionalModel as its remote code runs it: ``ids`` [L] -> last hidden states [L, H],
    every token seeing every other (an all-visible additive 4-D mask)."""
    model = _bidirectional_llama(str(model_dir))
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), attention_mask=torch.zeros(1, 1, len(ids), len(ids))).last_hidden_state[0]
