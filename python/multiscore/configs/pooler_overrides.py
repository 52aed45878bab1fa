"""vLLM's ``--pooler-config`` (``PoolerConfig``): what a vLLM user sets on the command line to change
how a pooling model pools and what it returns by default.

Read here:
- ``pooling_type`` / ``seq_pooling_type`` ``CLS`` | ``MEAN`` | ``LAST``: an embedding model's pooling,
  in place of its sentence-transformers config; a classifier accepts only the token its head reads;
- ``use_activation`` (vLLM's older ``normalize``, ``softmax``, ``activation``): the default of requests
  that do not say (an embedding's normalisation, a classifier's activation);
- ``dimensions``: the default Matryoshka dimensions of embeddings;
- ``logit_mean`` / ``logit_sigma`` (older ``logit_bias`` / ``logit_scale`` = 1 / sigma): a
  classifier's logits become ``(logit - mean) / sigma`` before any activation (Platt scaling);
- ``task`` (or ``pooling_task``): what ``/pooling`` returns when a request names no task; ``token_classify`` on a decoder
  sequence classifier applies its head to every token (vLLM's ``pooling_task``);
- ``tok_pooling_type: ALL`` (what token tasks do here).

- ``enable_chunked_processing`` with ``max_embed_len``: an embedding input longer than the context
  is split into chunks, each embedded, and the chunk embeddings averaged (serving/embed.py).

Refused with a reason, at start-up: ``STEP`` pooling, ``step_tag_id`` and ``returned_token_ids``
(process reward models are not served), and any key vLLM does not have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

_SEQ_TYPES = ("cls", "mean", "last")
_TOK_TYPES = ("all", "step")
_TASKS = ("embed", "classify", "score", "token_embed", "token_classify")
_ACTIVATION_KEYS = ("use_activation", "normalize", "softmax", "activation")  # the last three: older vLLM names
_REFUSED = {
    "step_tag_id": "process reward models (STEP pooling) are not served",
    "returned_token_ids": "process reward models (STEP pooling) are not served",
}
_KNOWN = ("task", "pooling_task", "pooling_type", "seq_pooling_type", "tok_pooling_type", *_ACTIVATION_KEYS, "dimensions",
          "enable_chunked_processing", "max_embed_len", "logit_mean", "logit_sigma", "logit_bias", "logit_scale",
          *_REFUSED)


@dataclass(frozen=True)
class PoolerOverrides:
    task: Optional[str] = None  # /pooling's default task
    pooling_type: Optional[str] = None  # cls | mean | last
    use_activation: Optional[bool] = None  # None: each model's own default
    dimensions: Optional[int] = None
    logit_mean: Optional[float] = None
    logit_sigma: Optional[float] = None
    # An embedding input longer than the context is split into context-long chunks (up to max_embed_len
    # tokens); their embeddings are averaged, weighted by their token counts (serving/embed.py).
    chunked: bool = False
    max_embed_len: Optional[int] = None

    @classmethod
    def parse(cls, text) -> "PoolerOverrides":
        """``--pooler-config``'s JSON (None or "": nothing overridden). Raises ValueError naming the key."""
        if not text:
            return cls()
        try:
            config = json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError as e:
            raise ValueError(f"--pooler-config is not valid JSON: {e}") from None
        if not isinstance(config, dict):
            raise ValueError("--pooler-config must be a JSON object")
        unknown = sorted(set(config) - set(_KNOWN))
        if unknown:
            raise ValueError(f"--pooler-config: unknown key(s) {', '.join(unknown)} (vLLM's PoolerConfig has "
                             f"{', '.join(sorted(_KNOWN))})")
        given = {k: v for k, v in config.items() if v is not None}
        for key, why in _REFUSED.items():
            if key in given:
                raise ValueError(f"--pooler-config {key}: {why}")
        chunked = given.get("enable_chunked_processing", False)
        if not isinstance(chunked, bool):
            raise ValueError(f"--pooler-config enable_chunked_processing must be true or false, got {chunked!r}")
        if "max_embed_len" in given and not chunked:
            raise ValueError("--pooler-config max_embed_len bounds the inputs that enable_chunked_processing splits; "
                             "set that too")
        return cls(
            task=_task(given),
            pooling_type=_seq_pooling_type(given),
            use_activation=_use_activation(given),
            dimensions=_positive_int(given, "dimensions"),
            logit_mean=_logit_mean(given),
            logit_sigma=_logit_sigma(given),
            chunked=chunked,
            max_embed_len=_positive_int(given, "max_embed_len"),
        )

    @property
    def calibrates(self) -> bool:
        return self.logit_mean is not None or self.logit_sigma is not None

    def use_activation_for(self, requested: Optional[bool]) -> Optional[bool]:
        """A request's ``use_activation``; when it gives none, the server's default."""
        return self.use_activation if requested is None else requested


def _choice(config: dict, key: str, choices: tuple[str, ...], lower: bool = True) -> Optional[str]:
    if key not in config:
        return None
    value = config[key]
    name = value.lower() if lower and isinstance(value, str) else value
    if name not in choices:
        shown = [c.upper() for c in choices] if lower else list(choices)
        raise ValueError(f"--pooler-config {key} must be one of {', '.join(shown)}, got {value!r}")
    return name


def _task(config: dict) -> Optional[str]:
    """``task``, or ``pooling_task`` (the name vLLM's token_classify test passes)."""
    task, pooling_task = _choice(config, "task", _TASKS, lower=False), _choice(config, "pooling_task", _TASKS, lower=False)
    if task and pooling_task and task != pooling_task:
        raise ValueError("--pooler-config: task and pooling_task disagree")
    return task or pooling_task


def _seq_pooling_type(config: dict) -> Optional[str]:
    if "pooling_type" in config and ("seq_pooling_type" in config or "tok_pooling_type" in config):
        raise ValueError("--pooler-config: give pooling_type, or seq_pooling_type / tok_pooling_type, not both")
    kind = _choice(config, "pooling_type", _SEQ_TYPES + _TOK_TYPES)
    token = _choice(config, "tok_pooling_type", _TOK_TYPES)
    if kind in _TOK_TYPES:
        kind, token = None, kind
    if token == "step":
        raise ValueError("--pooler-config STEP pooling: process reward models are not served")
    return kind or _choice(config, "seq_pooling_type", _SEQ_TYPES)


def _use_activation(config: dict) -> Optional[bool]:
    values = {key: config[key] for key in _ACTIVATION_KEYS if key in config}
    for key, value in values.items():
        if not isinstance(value, bool):
            raise ValueError(f"--pooler-config {key} must be true or false, got {value!r}")
    if len(set(values.values())) > 1:
        raise ValueError(f"--pooler-config: {' and '.join(values)} disagree (they all set use_activation)")
    return next(iter(values.values()), None)


def _positive_int(config: dict, key: str) -> Optional[int]:
    value = config.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"--pooler-config {key} must be a positive integer, got {value!r}")
    return value


def _number(config: dict, key: str) -> Optional[float]:
    value = config.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"--pooler-config {key} must be a number, got {value!r}")
    return None if value is None else float(value)


def _logit_mean(config: dict) -> Optional[float]:
    if "logit_mean" in config and "logit_bias" in config:
        raise ValueError("--pooler-config: give logit_mean or its old name logit_bias, not both")
    mean = _number(config, "logit_mean")
    return mean if mean is not None else _number(config, "logit_bias")


def _logit_sigma(config: dict) -> Optional[float]:
    if "logit_sigma" in config and "logit_scale" in config:
        raise ValueError("--pooler-config: give logit_sigma or logit_scale (= 1 / logit_sigma), not both")
    sigma, scale = _number(config, "logit_sigma"), _number(config, "logit_scale")
    if sigma == 0 or scale == 0:
        raise ValueError(f"--pooler-config {'logit_sigma' if sigma == 0 else 'logit_scale'} cannot be 0")
    return sigma if sigma is not None else (None if scale is None else 1.0 / scale)
