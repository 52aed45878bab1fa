"""Flags of other servers that tune what multiscore does not have (KV-cache memory, CUDA graphs, log
formats ...): accepted on the command line, hidden from --help, and named in one logged warning, so
that a launch command written for SGLang, vLLM or TEI keeps working. Each of sglang_args, vllm_args
and tei_args lists its own."""

from __future__ import annotations

import argparse
import logging


def add_ignored_flags(group, flags: dict[str, object], prefix: str) -> None:
    """``flags``: name -> "flag" (store_true) or the type of its value; each lands in ``ns.<prefix><name>``."""
    for name, kind in flags.items():
        flag, dest = "--" + name.replace("_", "-"), prefix + name
        if kind == "flag":
            group.add_argument(flag, dest=dest, action="store_true", help=argparse.SUPPRESS)
        else:
            group.add_argument(flag, dest=dest, type=kind, help=argparse.SUPPRESS)


def given_flags(ns: argparse.Namespace, names, prefix: str) -> list[str]:
    """Which of ``names`` the command line gave."""
    return [name for name in names if getattr(ns, prefix + name) not in (None, False)]


def note_ignored(logger: logging.Logger, server: str, names: list[str]) -> None:
    if names:
        logger.warning("%s arguments with no effect in multiscore, ignored: %s", server, ", ".join(sorted(names)))
