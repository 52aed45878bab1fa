"""Infinity's server flags (``infinity_emb v2 ...``), so an Infinity launch command runs here with its
first words changed: ``multiscore serve --model-id BAAI/bge-small-en-v1.5 --port 7997 --url-prefix /v1``.

- Shared with TEI's or ours: ``--model-id`` (once: one model per server), ``--served-model-name``,
  ``--host``, ``--port``, ``--revision``, ``--trust-remote-code``, ``--api-key``, ``--device``.
- Mapped: ``--dtype`` (``int8`` is ``--quantization int8``), ``--pooling-method`` (``mean``, ``cls``,
  ``auto``) as ``--pooler-config``'s pooling type, ``--compile`` / ``--no-compile`` as ``--compile
  on|off``, ``--url-prefix`` ("" and ``/v1``: every route is served at both).
- Accepted with no effect, named in one logged note: the batch size (we batch by tokens:
  ``--max-prefill-tokens``), model warm-up, the vector disk cache, BetterTransformer, lengths via
  the tokenizer, permissive CORS, the proxy root path, slash redirects.
- Refused, with the reason: another ``--engine`` than torch, ``--embedding-dtype`` other than
  float32, ``--dtype fp8``, another ``--url-prefix``, and ``--preload-only`` (which downloads and exits).
- Infinity's environment variables (``INFINITY_MODEL_ID``, ``INFINITY_PORT`` ... as its Docker and
  Kubernetes setups set them) are read as those flags, ahead of the command line, which wins.
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from multiscore.entrypoints.ignored_flags import given_flags, note_ignored

logger = logging.getLogger(__name__)

# Infinity's on/off options with no effect here, each as --NAME and --no-NAME.
NO_EFFECT_SWITCHES = ("model_warmup", "vector_disk_cache", "lengths_via_tokenize", "bettertransformer",
                      "permissive_cors", "redirect_slash")
NO_EFFECT_VALUES = {"batch_size": int, "proxy_root_path": str}
SERVED_URL_PREFIXES = ("", "/", "/v1", "/v1/")
_POOLING = {"mean": "MEAN", "cls": "CLS", "auto": None}


# Infinity's options that its INFINITY_<NAME> environment variables set: those taking a value, and
# the on/off ones (a variable true or false).
ENV_VALUES = ("model_id", "served_model_name", "host", "port", "url_prefix", "batch_size", "revision", "engine",
              "dtype", "device", "pooling_method", "embedding_dtype", "api_key", "proxy_root_path")
ENV_SWITCHES = ("trust_remote_code", "compile", "preload_only") + NO_EFFECT_SWITCHES
_TRUE = ("1", "true", "yes", "on")


def env_flags(argv: list[str], environ=os.environ) -> list[str]:
    """The flags Infinity's environment variables give, for options ``argv`` does not name; put them
    ahead of ``argv`` so that the command line wins (argparse keeps the last value)."""
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    flags = []
    for name in ENV_VALUES:
        value, flag = environ.get("INFINITY_" + name.upper()), "--" + name.replace("_", "-")
        if value is None or flag in given:
            continue
        if name in ("model_id", "served_model_name"):  # Infinity's lists are ";"-separated
            if len([v for v in value.split(";") if v]) > 1:
                raise ValueError(f"INFINITY_{name.upper()}={value!r} names several models; multiscore serves one model "
                                 "per server (run one server per model)")
            value = value.strip(";")
        flags += [flag, value]
    for name in ENV_SWITCHES:
        value, flag = environ.get("INFINITY_" + name.upper()), "--" + name.replace("_", "-")
        if value is None or flag in given or "--no-" + flag[2:] in given:
            continue
        on = value.strip().lower() in _TRUE
        if name == "compile":
            flags += ["--compile", "on" if on else "off"]
        elif name in ("trust_remote_code", "preload_only"):
            flags += [flag] if on else []
        else:
            flags.append(flag if on else "--no-" + flag[2:])
    return flags


class OnceOnly(argparse.Action):
    """``--model-id`` a second time: Infinity serves several models from one server, we serve one."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        if getattr(namespace, "_model_id_given", False):
            parser.error(f"{option_string} given twice: multiscore serves one model per server "
                         "(run one server per model)")
        namespace._model_id_given = True
        setattr(namespace, self.dest, value)


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Infinity flags (infinity_emb v2's names)")
    suppress = argparse.SUPPRESS
    group.add_argument("--pooling-method", dest="infinity_pooling", choices=sorted(_POOLING), default=None,
                       help="Infinity's name for --pooler-config's pooling_type (auto: the model's own)")
    group.add_argument("--no-compile", dest="compile", action="store_const", const="off", help="--compile off")
    group.add_argument("--url-prefix", dest="infinity_url_prefix", default=None,
                       help='"" or /v1: every route is served at both')
    group.add_argument("--engine", dest="infinity_engine", default=None, help="torch only")
    group.add_argument("--embedding-dtype", dest="infinity_embedding_dtype", default=None, help="float32 only")
    group.add_argument("--preload-only", dest="infinity_preload_only", action="store_true", help=suppress)
    group.add_argument("--no-trust-remote-code", dest="trust_remote_code", action="store_false", help=suppress)
    for name in NO_EFFECT_SWITCHES:
        flag = name.replace("_", "-")
        group.add_argument(f"--{flag}", dest="infinity_" + name, action="store_true", default=None, help=suppress)
        group.add_argument(f"--no-{flag}", dest="infinity_" + name, action="store_false", default=None, help=suppress)
    for name, kind in NO_EFFECT_VALUES.items():
        group.add_argument("--" + name.replace("_", "-"), dest="infinity_" + name, type=kind, help=suppress)


def apply_cli_args(ns: argparse.Namespace) -> None:
    """Fold the Infinity flags a command line gave into ours (in ``ns``); log the ignored ones."""
    if ns.infinity_preload_only:
        raise ValueError("--preload-only downloads the model and exits; multiscore serves it. To download only: "
                         "huggingface-cli download MODEL")
    if ns.infinity_engine not in (None, "torch"):
        raise ValueError(f"--engine {ns.infinity_engine}: multiscore runs its own torch engine only")
    if ns.infinity_embedding_dtype not in (None, "float32"):
        raise ValueError(f"--embedding-dtype {ns.infinity_embedding_dtype}: embeddings are float32 here; "
                         "Cohere's /v2/embed answers binary and ubinary ones per request")
    if ns.infinity_url_prefix is not None and ns.infinity_url_prefix not in SERVED_URL_PREFIXES:
        raise ValueError(f"--url-prefix {ns.infinity_url_prefix}: routes are served at / and /v1/ only")
    if ns.dtype == "fp8":
        raise ValueError("--dtype fp8 is not supported (float32, bfloat16, float16, or int8 weights)")
    if ns.dtype == "int8":  # Infinity's int8: linear layers' weights in int8, what --quantization int8 does
        ns.dtype, ns.quantization = "auto", "int8"
    pooling = _POOLING.get(ns.infinity_pooling) if ns.infinity_pooling else None
    if pooling is not None:
        config = json.loads(ns.pooler_config) if ns.pooler_config else {}
        if "pooling_type" in config and config["pooling_type"].upper() != pooling:
            raise ValueError(f"--pooling-method {ns.infinity_pooling} and the pooling type already given disagree")
        ns.pooler_config = json.dumps({**config, "pooling_type": pooling})
    given = [name for name in NO_EFFECT_SWITCHES if getattr(ns, "infinity_" + name) is not None]
    note_ignored(logger, "Infinity", given + given_flags(ns, NO_EFFECT_VALUES, "infinity_"))
