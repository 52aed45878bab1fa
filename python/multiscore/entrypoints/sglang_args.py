"""SGLang's server arguments that multiscore accepts without using, so SGLang users keep their
``Engine(...)`` calls and launch commands.

They tune what multiscore does not have (SGLang's KV-cache pool, CUDA graphs, its scheduler's
knobs, tensor parallelism): each is accepted and named in one logged note instead of a TypeError
or an argparse error. Parallelism degrees are accepted only as 1: a larger value would be a promise
not kept, so it is refused.
"""

from __future__ import annotations

import argparse
import logging

from multiscore.entrypoints.ignored_flags import add_ignored_flags, given_flags, note_ignored

logger = logging.getLogger(__name__)

RENAMED = {"random_seed": "seed"}  # SGLang's name -> ours

# name -> "flag" (store_true on the command line) or the type of its value.
NO_EFFECT: dict[str, object] = {
    "disable_cuda_graph": "flag",
    "disable_cuda_graph_padding": "flag",
    "disable_overlap_schedule": "flag",
    "disable_chunked_prefix_cache": "flag",
    "disable_custom_all_reduce": "flag",
    "enable_mixed_chunk": "flag",
    "enable_metrics": "flag",  # /metrics is always on here
    "enable_cache_report": "flag",
    "enable_memory_saver": "flag",
    "enable_p2p_check": "flag",
    "is_embedding": "flag",  # the model's kind comes from its architecture here
    "skip_server_warmup": "flag",
    "log_requests": "flag",
    "show_time_cost": "flag",
    "max_loras_per_batch": int,  # --lora-paths serves adapters (--max-lora-rank: vllm_args.py)
    "lora_backend": str,
    "chunked_prefill_size": int,
    "mem_fraction_static": float,
    "max_running_requests": int,
    "max_total_tokens": int,
    "cuda_graph_max_bs": int,
    "torch_compile_max_bs": int,
    "page_size": int,
    "stream_interval": int,
    "schedule_conservativeness": float,
    "watchdog_timeout": float,
    "sampling_backend": str,
    "grammar_backend": str,
    "kv_cache_dtype": str,
    "load_format": str,
    "tokenizer_mode": str,
    "download_dir": str,
}
SINGLE_REPLICA = ("tp_size", "pp_size", "ep_size")  # accepted as 1 only (dp_size is ours too: --dp-size)


def translate_engine_kwargs(kwargs: dict) -> dict:
    """SGLang ``Engine`` keyword arguments -> ours; the ones with no effect here are dropped and logged."""
    out, ignored = {}, []
    for name, value in kwargs.items():
        if name in RENAMED:
            out[RENAMED[name]] = value
        elif name == "enable_torch_compile":  # ours is three-way: auto | on | off
            out["compile"] = "on" if value else "auto"
        elif name in NO_EFFECT:
            ignored.append(name)
        elif name in SINGLE_REPLICA:
            _check_single_replica(name, value)
            ignored.append(name)
        else:
            out[name] = value
    _note(ignored)
    return out


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SGLang flags accepted for compatibility (no effect here)")
    group.add_argument("--random-seed", dest="seed", type=int, default=argparse.SUPPRESS, help="SGLang's name for --seed")
    add_ignored_flags(group, NO_EFFECT, "sglang_")
    for name in SINGLE_REPLICA:
        group.add_argument("--" + name.replace("_", "-"), dest="sglang_" + name, type=int, help="accepted as 1 only")


def note_cli_args(ns: argparse.Namespace) -> None:
    """Check and log the SGLang flags a command line gave (after parsing)."""
    given = given_flags(ns, list(NO_EFFECT) + list(SINGLE_REPLICA), "sglang_")
    for name in SINGLE_REPLICA:
        if name in given:
            _check_single_replica(name, getattr(ns, "sglang_" + name))
    _note(given)


def _check_single_replica(name: str, value) -> None:
    if value != 1:
        raise ValueError(f"{name}={value}: multiscore runs one model replica per scheduler process; only 1 is accepted")


def _note(names: list[str]) -> None:
    note_ignored(logger, "SGLang", names)
