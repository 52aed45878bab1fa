"""ModelWorker: owns the model and the attention backend; turns a list of sequences into outputs.

One path for every model: build the packed batch, let the backend plan its attention once, call
the model (which runs its layers and its own pooler).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Optional

import torch

from multiscore.configs.attention_geometry import head_dim_of, kv_layer_shapes, uses_alibi

from multiscore.configs.model_config import ModelConfig
from multiscore.layers.attention import BatchAttention, default_backend_name, get_backend_class
from multiscore.layers.int8_linear import int8_isa, int8_problem, use_compiled_int8_ops
from multiscore.layers.linear import Linear, onednn_packing_problem, pack_linears
from multiscore.layers.pooler import calibrate_classifier
from multiscore.model_executor.compile import apply_compile, warm_up_sequences
from multiscore.model_executor.cpu_memory import keep_freed_memory
from multiscore.model_executor.forward_batch import ForwardBatch, ScoreSequence
from multiscore.model_executor.prefix_cache_runner import PrefixCacheRunner, default_cache_mb, prefix_cache_problem
from multiscore.model_executor.weight_loader import attach_lora_adapters, load_model
from multiscore.server_args import ServerArgs

logger = logging.getLogger(__name__)


def cpu_has_native_bf16() -> bool:
    """bf16 matrix products in hardware: AVX512-BF16 (AMD Zen 4, Intel Cooper Lake) or AMX (Intel
    Sapphire Rapids and later). Elsewhere bf16 is emulated and slower than fp32."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def resolve_dtype(server_args: ServerArgs, model_config: ModelConfig, device: str) -> tuple[torch.dtype, str]:
    """-> (the dtype the model computes in, why). ``--dtype auto``: the checkpoint's on GPU; on CPU,
    bf16 for a 16-bit checkpoint when the CPU multiplies bf16 natively, float32 otherwise."""
    if server_args.dtype != "auto":
        return getattr(torch, server_args.dtype), f"--dtype {server_args.dtype}"
    checkpoint = model_config.checkpoint_dtype
    if device != "cpu":
        return checkpoint, "the checkpoint's dtype"
    if checkpoint not in (torch.bfloat16, torch.float16):
        return torch.float32, "a 32-bit checkpoint on CPU"
    if not cpu_has_native_bf16():
        return torch.float32, "a 16-bit checkpoint, but this CPU has no native bf16 (AVX512-BF16 or AMX)"
    return torch.bfloat16, "a 16-bit checkpoint on a CPU with native bf16"


class ModelWorker:
    def __init__(self, server_args: ServerArgs, model_config: ModelConfig) -> None:
        self.model_config = model_config
        self.device = torch.device(server_args.torch_device)
        self.dtype, self.dtype_reason = resolve_dtype(server_args, model_config, self.device.type)
        logger.info("computing in %s: %s", str(self.dtype).removeprefix("torch."), self.dtype_reason)
        if server_args.num_threads is not None:
            torch.set_num_threads(server_args.num_threads)
        self.cpu_memory = self._cpu_memory(server_args.return_freed_memory)
        torch.manual_seed(server_args.seed)
        self.model = load_model(model_config, self.device, self.dtype, seed=server_args.seed)
        if model_config.pooler.calibrates:
            calibrate_classifier(self.model, model_config.pooler.logit_mean, model_config.pooler.logit_sigma)
        self.linear_kernel = self._pack_linears(server_args.quantization)
        self.causal = not model_config.kind.bidirectional
        cfg = model_config.hf_config
        backend_name = server_args.attention_backend or default_backend_name(self.device.type)
        if backend_name == "flashinfer" and any(getattr(m, "softcap", None) for m in self.model.modules()):
            raise ValueError(f"{model_config.architecture} soft-caps its attention scores, which the FlashInfer "
                             "backend does not do yet: serve it with --attention-backend torch")
        if backend_name == "flashinfer" and any(getattr(m, "sinks", None) is not None for m in self.model.modules()):
            raise ValueError(f"{model_config.architecture}'s attention has sink logits, which the FlashInfer backend "
                             "does not take here yet: serve it with --attention-backend torch")
        if backend_name == "flashinfer" and uses_alibi(cfg):
            raise ValueError(f"{model_config.architecture} biases its attention scores by position (ALiBi), which the "
                             "FlashInfer backend does not take here: serve it with --attention-backend torch")
        if getattr(cfg, "is_heterogeneous", False):  # layers of their own shapes (Gemma 4)
            kv_shapes = kv_layer_shapes(cfg)
            if backend_name == "flashinfer" and len(set(kv_shapes)) > 1:
                raise ValueError(f"{model_config.architecture}'s layers differ in head size or kv heads, and the "
                                 "FlashInfer backend plans a batch for one: serve it with --attention-backend torch")
            num_kv_heads, head_dim = kv_shapes[0]
        else:
            num_kv_heads, head_dim = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads, head_dim_of(cfg)
        self.backend = get_backend_class(backend_name)(
            self.device, self.dtype, num_heads=cfg.num_attention_heads, num_kv_heads=num_kv_heads, head_dim=head_dim,
        )
        self.prefix_cache, self.prefix_cache_reason = self._prefix_cache(server_args, model_config)
        self.compile = apply_compile(server_args.compile, self.device, self.dtype, self.model, self.forward, self.backend)
        if server_args.quantization == "int8":
            self.linear_kernel += self._compile_int8_ops(server_args.compile)

    def _cpu_memory(self, return_freed: bool) -> str:
        """Before the weights load: the process's malloc keeps freed memory (cpu_memory.py). -> what holds."""
        if self.device.type != "cpu":
            return "not applicable (CUDA)"
        if return_freed:
            return "returned to the OS (--return-freed-memory: the C library's defaults)"
        return keep_freed_memory()

    def _prefix_cache(self, server_args: ServerArgs, model_config: ModelConfig):
        """-> (the cache across requests or None, what it is or why there is none)."""
        problem = prefix_cache_problem(server_args, model_config, self.backend.name)
        size_mb = server_args.prefix_cache_size_mb
        if size_mb is None:
            size_mb = default_cache_mb(self.device)
        if problem is None and size_mb == 0:
            problem = "--prefix-cache-size-mb 0"
        if problem is not None:
            logger.info("prefix cache across requests: off (%s)", problem)
            return None, f"off: {problem}"
        runner = PrefixCacheRunner(model_config, size_mb, self.device, self.dtype)
        return runner, f"on: {size_mb:g} MB, {runner.tree.pool.num_slots} tokens"

    def _pack_linears(self, quantization: Optional[str]) -> str:
        """The body's weights in oneDNN's packed layout where that works (layers/linear.py), or in
        int8 (layers/int8_linear.py), which must work once asked for. -> what runs."""
        if quantization == "int8":
            problem = int8_problem(self.device, self.dtype)
            if problem is not None:
                raise ValueError(f"--quantization int8: {problem}")
            count = pack_linears(self.model, int8=True)
            logger.info("linear layers: %d in int8 (%s)", count, int8_isa())
            return f"oneDNN int8: per-channel weights, per-token activations ({count} layers; {int8_isa()})"
        problem = onednn_packing_problem(self.device, self.dtype)
        if problem is not None:
            logger.info("linear layers: F.linear (%s)", problem)
            return f"torch F.linear ({problem})"
        count = pack_linears(self.model)
        logger.info("linear layers: %d with oneDNN-packed weights", count)
        return f"oneDNN packed weights ({count} layers)"

    def _compile_int8_ops(self, mode: str) -> str:
        """The int8 quantizer and epilogue compiled and warmed up at start-up (unless --compile off);
        a failed compilation keeps the eager ops, logged. -> a note for linear_kernel."""
        if mode == "off":
            return "; eager quantizer (--compile off)"
        try:
            use_compiled_int8_ops(True)
            for batch in warm_up_sequences(self.model.kind):
                self.forward(batch)
        except Exception as e:  # noqa: BLE001 - whatever inductor raises, serving continues eager
            use_compiled_int8_ops(False)
            logger.warning("int8 quantizer: compilation failed, running eager: %s: %s", type(e).__name__, e)
            return f"; eager quantizer (compilation failed: {type(e).__name__})"
        return "; compiled quantizer"

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def add_lora_adapter(self, name: str, path: str, index: int) -> None:
        """One more PEFT LoRA adapter (vLLM's /v1/load_lora_adapter), as adapter ``index``; the adapters
        are stacked anew, and a failure leaves the served ones as they were."""
        adapters = self.model_config.lora_adapters
        if index != len(adapters):
            raise ValueError(f"adapter {name!r} would be number {index}, and this replica serves {len(adapters)}")
        if self.model.adapter_rows is not None and not adapters:
            raise ValueError(f"{type(self.model).__name__} chooses its own task adapters per request; it takes no LoRA adapters")
        linears = [m for m in self.model.modules() if isinstance(m, Linear)]
        saved = ([m.task_adapters for m in linears], self.model.adapter_rows, self.model.head_overrides)
        for m in linears:
            m.task_adapters = None
        self.model.adapter_rows, self.model.head_overrides = None, {}
        try:
            attach_lora_adapters(self.model, self.model_config, adapters + ((name, path),))
        except Exception:
            for m, kept in zip(linears, saved[0]):
                m.task_adapters = kept
            self.model.adapter_rows, self.model.head_overrides = saved[1], saved[2]
            raise
        self.model_config = dataclasses.replace(self.model_config, lora_adapters=adapters + ((name, path),))

    @torch.inference_mode()
    def forward(self, seqs: list[ScoreSequence]) -> list[torch.Tensor]:
        """Run a batch: one float32 CPU tensor [num_items, C] per sequence, in order.

        C is the number of label tokens (CausalLM), of labels (classifiers), or the embedding's
        dimensions (embedding models, one item per sequence)."""
        plan = self.prefix_cache.plan(seqs) if self.prefix_cache is not None else None
        ok = False
        try:
            batch = ForwardBatch.build(seqs, self.device, plan.cached if plan else None)
            metadata = self.backend.build_metadata(batch.layouts, causal=self.causal)
            attention = BatchAttention(self.backend, metadata, prefix=plan.prefix if plan else None)
            outputs = [out.cpu() for out in self.model(batch, attention)]
            ok = True
            return outputs
        finally:
            if plan is not None:
                self.prefix_cache.finish(plan, ok)
