"""vLLM's ``vllm serve`` flags, so that a vLLM user's launch command runs here unchanged:
``vllm serve MODEL --max-model-len 512 --hf-overrides '{...}' --pooler-config '{...}'`` becomes
``multiscore serve MODEL ...`` (or ``python -m multiscore.launch_server --model MODEL ...``).

- Flags with a meaning here are mapped onto ours: ``--model``, ``--tokenizer``, ``--max-model-len``
  (``1k``, ``2K``, ``auto``), ``--hf-overrides`` (merged over ``--json-model-override-args``),
  ``--chat-template``, ``--pooler-config`` (and its old name ``--override-pooler-config``),
  ``--convert``, ``--runner``, ``--task`` (vLLM's old name for both), ``--data-parallel-size``,
  ``--max-num-batched-tokens``, ``--enforce-eager`` (no torch.compile) and
  ``--[no-]enable-prefix-caching``.
- Flags that tune what multiscore does not have (vLLM's KV-cache memory, CUDA graphs, its
  scheduler's and logger's knobs) are accepted and named in one logged note.
- Tensor and pipeline parallelism are accepted as 1 only, and ``--runner generate`` is refused:
  a promise not kept would be worse than an error.
"""

from __future__ import annotations

import argparse
import json
import logging
import re

from multiscore.entrypoints.ignored_flags import add_ignored_flags, given_flags, note_ignored

logger = logging.getLogger(__name__)

# name -> "flag" (store_true) or the type of its value: accepted, with no effect here. (vLLM's
# --load-format, --download-dir, --kv-cache-dtype and --tokenizer-mode are SGLang's too: sglang_args.py.)
NO_EFFECT: dict[str, object] = {
    "gpu_memory_utilization": float,
    "max_num_seqs": int,
    "block_size": int,
    "swap_space": float,
    "cpu_offload_gb": float,
    "max_seq_len_to_capture": int,
    "max_logprobs": int,
    "max_log_len": int,
    "compilation_config": str,
    "distributed_executor_backend": str,
    "uvicorn_log_level": str,
    "enable_chunked_prefill": "flag",
    "no_enable_chunked_prefill": "flag",
    "disable_log_stats": "flag",
    "disable_log_requests": "flag",
    "enable_log_requests": "flag",
    "disable_uvicorn_access_log": "flag",
    "disable_frontend_multiprocessing": "flag",
    "disable_fastapi_docs": "flag",
    "enable_server_load_tracking": "flag",
    "max_lora_rank": int,  # --lora-modules serves adapters, every one loaded (SGLang's flag too)
    "max_loras": int,
    "max_cpu_loras": int,
}
SINGLE_REPLICA = {"tensor_parallel_size": "-tp", "pipeline_parallel_size": "-pp"}

# vLLM's old --task -> (runner, convert). "score" was a cross-encoder's task: a classifier here.
_OLD_TASKS = {
    "auto": ("auto", "auto"), "embed": ("pooling", "embed"), "embedding": ("pooling", "embed"),
    "classify": ("pooling", "classify"), "score": ("pooling", "classify"), "reward": ("pooling", "reward"),
    "generate": ("generate", "auto"),
}
_HUMAN_INT = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgG]?)$")
_SCALES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}


def model_length(text: str):
    """``--max-model-len``: an int, ``1k`` (1000), ``1K`` (1024), ``25.6k``; ``auto`` or -1: the model's own."""
    if text in ("auto", "-1"):
        return None
    match = _HUMAN_INT.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a length: {text!r} (give e.g. 512, 8k, 32K or auto)")
    number, suffix = match.groups()
    value = float(number) * _SCALES[suffix]
    if value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of tokens: {text!r}")
    return int(value)


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vLLM flags (vllm serve's names)")
    suppress = argparse.SUPPRESS
    group.add_argument("--model", dest="model_path", default=suppress, help="vLLM's name for --model-path")
    group.add_argument("--tokenizer", dest="tokenizer_path", default=suppress, help="vLLM's name for --tokenizer-path")
    group.add_argument("--max-model-len", dest="context_length", type=model_length, default=suppress,
                       help="vLLM's name for --context-length (also 8k, 32K, auto)")
    group.add_argument("--hf-overrides", dest="vllm_hf_overrides", default=None,
                       help="JSON merged over the checkpoint's config.json (as --json-model-override-args)")
    group.add_argument("--override-pooler-config", dest="pooler_config", default=suppress,
                       help="vLLM's old name for --pooler-config")
    group.add_argument("-dp", "--data-parallel-size", dest="dp_size", type=int, default=suppress,
                       help="vLLM's name for --dp-size")
    group.add_argument("--max-num-batched-tokens", dest="max_prefill_tokens", type=int, default=suppress,
                       help="vLLM's name for --max-prefill-tokens")
    group.add_argument("--enforce-eager", dest="compile", action="store_const", const="off", default=suppress,
                       help="no torch.compile (--compile off)")
    group.add_argument("--enable-prefix-caching", dest="disable_radix_cache", action="store_false", default=suppress)
    group.add_argument("--no-enable-prefix-caching", dest="disable_radix_cache", action="store_true", default=suppress,
                       help="no prefix cache across requests (--disable-radix-cache)")
    group.add_argument("--runner", dest="vllm_runner", default="auto", choices=["auto", "pooling", "generate", "draft"],
                       help="auto or pooling: multiscore serves pooling models only")
    group.add_argument("--task", dest="vllm_task", default=None, choices=sorted(_OLD_TASKS),
                       help="vLLM's old name for --runner and --convert")
    add_ignored_flags(group, NO_EFFECT, "vllm_")
    group.add_argument("-O", dest="vllm_compilation_config", help=suppress)
    for name, short in SINGLE_REPLICA.items():
        group.add_argument(short, "--" + name.replace("_", "-"), dest="vllm_" + name, type=int, help="accepted as 1 only")


def _refuse_generation(runner: str, given: str) -> None:
    """``given``: how the caller named the runner (``--runner generate``, ``task='generate'``)."""
    if runner not in ("auto", "pooling"):
        raise ValueError(f"{given}: multiscore serves pooling models (embed, classify, score, rerank), it does not "
                         "generate text")


def apply_cli_args(ns: argparse.Namespace) -> None:
    """Check the vLLM flags a command line gave, fold them into ours (in ``ns``) and log the ignored ones."""
    runner, convert = _OLD_TASKS[ns.vllm_task] if ns.vllm_task else (ns.vllm_runner, None)
    if ns.vllm_task and ns.vllm_runner != "auto" and ns.vllm_runner != runner:
        raise ValueError(f"--task {ns.vllm_task} and --runner {ns.vllm_runner} disagree")
    if ns.vllm_runner != "auto":
        runner = ns.vllm_runner
    _refuse_generation(runner, f"--runner {runner}")
    ns.runner = runner
    if convert is not None:
        if getattr(ns, "convert", "auto") not in ("auto", convert):
            raise ValueError(f"--task {ns.vllm_task} and --convert {ns.convert} disagree")
        ns.convert = convert
    if ns.vllm_hf_overrides is not None:
        ours = _json_object(ns.json_model_override_args, "--json-model-override-args")
        ns.json_model_override_args = json.dumps({**ours, **_json_object(ns.vllm_hf_overrides, "--hf-overrides")})
    given = given_flags(ns, NO_EFFECT, "vllm_")
    for name in SINGLE_REPLICA:
        value = getattr(ns, "vllm_" + name)
        if value is not None:
            if value != 1:
                raise ValueError(f"--{name.replace('_', '-')} {value}: multiscore runs one model per replica; only 1 "
                                 "is accepted (use --data-parallel-size for more replicas)")
            given.append(name)
    note_ignored(logger, "vLLM", given)


# vLLM's LLM(...) keyword -> ours (the CLI's renames, by their Python names).
_RENAMED_KWARGS = {"tokenizer": "tokenizer_path", "max_model_len": "context_length", "data_parallel_size": "dp_size",
                   "max_num_batched_tokens": "max_prefill_tokens"}
# LLM(...) keywords with no effect here, beyond the CLI's: vLLM's engine knobs by their Python names.
_NO_EFFECT_KWARGS = {"attention_config", "kv_cache_dtype", "load_format", "download_dir", "tokenizer_mode",
                     "disable_custom_all_reduce", "enable_chunked_prefill", "max_seq_len_to_capture",
                     "tokenizer_revision", "code_revision", "hf_token", "disable_log_stats", "compilation_config",
                     "limit_mm_per_prompt", "mm_processor_kwargs", "logits_processors"}


def translate_llm_kwargs(kwargs: dict) -> dict:
    """vLLM ``LLM(model, **kwargs)`` keyword arguments -> ServerArgs keywords; the ones with no effect
    here are dropped and logged, and those that would be promises not kept are refused."""
    out, ignored = {}, []
    for name, value in kwargs.items():
        if name in _RENAMED_KWARGS:
            out[_RENAMED_KWARGS[name]] = value
        elif name == "hf_overrides":
            if value is not None:
                if not isinstance(value, dict):
                    raise ValueError("hf_overrides must be a dict (a callable is not supported)")
                out["json_model_override_args"] = json.dumps(value)
        elif name == "pooler_config":
            out["pooler_config"] = _pooler_config_dict(value)
        elif name == "enforce_eager":
            if value:
                out["compile"] = "off"
        elif name == "enable_prefix_caching":
            if value is not None:
                out["disable_radix_cache"] = not value
        elif name in ("runner", "task"):
            runner, convert = _OLD_TASKS[value] if name == "task" else (value, None)
            _refuse_generation(runner, f"{name}={value!r}")
            out["runner"] = runner
            if convert not in (None, "auto"):
                out["convert"] = convert
        elif name in SINGLE_REPLICA:
            if value != 1:
                raise ValueError(f"{name}={value}: multiscore runs one model per replica; only 1 is accepted")
            ignored.append(name)
        elif name in NO_EFFECT or name in _NO_EFFECT_KWARGS:
            ignored.append(name)
        else:
            out[name] = value
    note_ignored(logger, "vLLM", ignored)
    return out


def _pooler_config_dict(value):
    """vLLM's ``PoolerConfig`` object (its fields as attributes), or a dict, or None."""
    if value is None or isinstance(value, (dict, str)):
        return value
    return {k: v for k, v in vars(value).items() if v is not None and not k.startswith("_")}


def _json_object(text: str, flag: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as e:
        raise ValueError(f"{flag} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object")
    return value
