"""The Python steps of scripts/gpu_check.sh (issue 18). Each prints ``figure: name = value`` lines
that gpu_check_summary.py copies into the summary table, and exits non-zero when a check fails.

    python scripts/gpu_check.py env [--dry-run]
    python scripts/gpu_check.py kernels [--dry-run]       FlashInfer (first call = JIT) vs the torch backend
    python scripts/gpu_check.py build-model DIR [--tiny]  the Qwen3-0.6B-shaped bf16 checkpoint, once
    python scripts/gpu_check.py forward DIR [--dry-run]   ms per forward: transformers, torch, flashinfer

``--dry-run``: on CPU, with test/fake_flashinfer.py as ``flashinfer`` (the CUDA checks lifted) and
tiny sizes: it checks this plumbing, never a kernel. Nothing here claims a figure it did not measure.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
for _p in (REPO / "scripts", REPO / "benchmark", REPO / "test"):
    sys.path.insert(0, str(_p))

# Qwen3-0.6B's attention heads (16 query, 8 KV, head_dim 128) and SGLang's scoring request.
HEADS, KV_HEADS, HEAD_DIM = 16, 8, 128
QUERY, ITEMS, ITEM_LEN = 120, 10, 180
# FlashInfer's error against the torch backend in float32 (the truth here) may be at most this many
# times the torch backend's own 16-bit error on the same inputs: both round the probabilities and
# the output to 16 bits, at different points; a wrong mask errs by the size of the outputs.
KERNEL_ERROR_RATIO = 2.0


def figure(name: str, value) -> None:
    print(f"figure: {name} = {value}", flush=True)


def use_stand_in() -> None:
    """The dry run: the CPU stand-in as ``flashinfer``, and the backend's CUDA/dtype checks lifted."""
    import fake_flashinfer
    from multiscore.layers.attention import flashinfer_backend

    sys.modules["flashinfer"] = fake_flashinfer
    flashinfer_backend.check_supported = lambda *args: None


def cmd_env(args) -> int:
    import torch

    figure("torch", f"{torch.__version__} (CUDA {torch.version.cuda})")
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        figure("gpu", f"{p.name}, sm_{p.major}{p.minor}, {p.total_memory / 2**30:.0f} GiB")
    else:
        figure("gpu", "none (CPU only)")
    if args.dry_run:
        use_stand_in()
    try:
        import flashinfer

        figure("flashinfer", flashinfer.__version__)
    except Exception as e:  # the later steps say more
        figure("flashinfer", f"import failed: {type(e).__name__}: {e}")
    from multiscore.layers import attention

    figure("FLASHINFER_IS_DEFAULT_ON_CUDA", attention.FLASHINFER_IS_DEFAULT_ON_CUDA)

    class _Decoder:
        use_fused_ops = True

    try:  # item 4's switches as they stand; a changed signature must not hide the versions above
        from multiscore.model_executor.compile import compile_decision

        figure("--compile auto on cuda", compile_decision("auto", torch.device("cuda"), torch.bfloat16, _Decoder())[1])
    except Exception as e:
        figure("--compile auto on cuda", f"could not ask: {type(e).__name__}: {e}")
    figure("CUDA graphs", "no switch in multiscore (SGLang's --disable-cuda-graph is accepted and ignored)")
    return 0


# ---- kernels -----------------------------------------------------------------------------------

def _layouts(kind: str, small: bool):
    import torch

    from multiscore.layers.attention.base import SequenceLayout

    q, n, item = (8, 3, 5) if small else (QUERY, ITEMS, ITEM_LEN)
    out, start = [], 0
    requests = 2 if small else 8  # 8 requests: a loaded server's batch
    if kind == "mis":  # one sequence per request
        shapes = [(q + n * (item + 1) + 1, q)] * requests
    else:  # single-item: one sequence per item
        shapes = [(q + item, None)] * (requests * n)
    for length, query_len in shapes:
        item_lens = None if query_len is None else torch.full((n,), item, dtype=torch.long)
        out.append(SequenceLayout(start, length, query_len, item_lens))
        start += length
    return out


def _time_ms(fn, sync, repeats: int) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def cmd_kernels(args) -> int:
    import torch

    from multiscore.layers.attention import get_backend_class

    if args.dry_run:
        use_stand_in()
    device = torch.device("cpu" if args.dry_run else "cuda")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    heads = (4, 2, 64) if args.dry_run else (HEADS, KV_HEADS, HEAD_DIM)
    failed = False
    for dtype_name in ("bfloat16", "float16"):  # bf16 first: the benchmark needs it
        dtype = getattr(torch, dtype_name)
        t0 = time.perf_counter()
        fi = get_backend_class("flashinfer")(device, dtype, *heads)
        ref = get_backend_class("torch")(device, dtype, *heads)
        truth = get_backend_class("torch")(device, torch.float32, *heads)
        for kind, causal in (("mis", True), ("plain", True), ("bidirectional", False)):
            layouts = _layouts("mis" if kind == "mis" else "plain", args.dry_run)
            rows = layouts[-1].start + layouts[-1].length
            gen = torch.Generator(device=device).manual_seed(0)
            # As a decoder hands them over: v a view of the fused [rows, (Hq + 2·Hkv)·D] qkv output,
            # q and k new tensors out of rotary. FlashInfer's paged run refuses k and v whose strides
            # differ unless the backend copies them.
            widths = [h * heads[2] for h in (heads[0], heads[1], heads[1])]
            fused = torch.randn(rows, sum(widths), generator=gen, device=device, dtype=dtype)
            q, k, v = (t.view(rows, -1, heads[2]) for t in fused.split(widths, dim=-1))
            q, k = q.contiguous(), k.contiguous()
            scale = heads[2] ** -0.5

            def run(backend, dt=dtype, meta=None):  # a fresh metadata: plan + one layer, as a batch's first
                meta = meta or backend.build_metadata(layouts, causal=causal)
                return backend.forward(q.to(dt), k.to(dt), v.to(dt), meta, scale)

            t1 = time.perf_counter()
            out = run(fi)
            sync()
            first_s = time.perf_counter() - t1
            if kind == "mis":  # the first kernel call of this dtype: FlashInfer compiles here
                figure(f"{dtype_name} first FlashInfer call (JIT compile + load)", f"{time.perf_counter() - t0:.1f} s")
            exact = run(truth, torch.float32)
            fi_err = (out.float() - exact).abs().max().item()
            torch_err = (run(ref).float() - exact).abs().max().item()
            ok = fi_err <= KERNEL_ERROR_RATIO * torch_err + 1e-6
            failed |= not ok
            repeats = 3 if args.dry_run else 20
            ms = {}
            for name, backend in (("flashinfer", fi), ("torch", ref)):
                meta = backend.build_metadata(layouts, causal=causal)
                run(backend, meta=meta)  # plans (FlashInfer) once; the layers after reuse it
                ms[name] = (_time_ms(lambda: run(backend), sync, repeats),  # metadata + plan + 1 layer
                            _time_ms(lambda: run(backend, meta=meta), sync, repeats))  # 1 more layer
            figure(f"{dtype_name} {kind} ({len(layouts)} seqs, {rows} rows)",
                   f"max error vs fp32: flashinfer {fi_err:.2e}, torch {torch_err:.2e} {'ok' if ok else 'FAIL'} "
                   f"(<= {KERNEL_ERROR_RATIO:g}x torch's); ms per layer (plan + first layer): flashinfer "
                   f"{ms['flashinfer'][1]:.3f} ({ms['flashinfer'][0]:.3f}), torch {ms['torch'][1]:.3f} "
                   f"({ms['torch'][0]:.3f}); first call {first_s:.1f} s")
    return 1 if failed else 0


# ---- the benchmark's checkpoint and the forward-pass figures -----------------------------------

TINY_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16)


def cmd_build_model(args) -> int:
    import bench_serving

    if args.tiny:  # the dry run: Qwen3's vocabulary (the random ids need it), a tiny body
        bench_serving.QWEN3_0_6B.update(TINY_SHAPE)
    t0 = time.perf_counter()
    path = bench_serving.build_qwen3_0_6b(pathlib.Path(args.dir), device="cpu" if args.tiny else "cuda")
    figure("checkpoint", f"{path} ({'tiny body' if args.tiny else 'Qwen3-0.6B shape'}, bf16, {time.perf_counter() - t0:.0f} s)")
    return 0


def _requests(n: int, small: bool):
    """SGLang's scoring requests (random ids); ``small``: 8-token queries, 3 items of 5 (the stand-in
    builds its masks in Python, quadratic in the sequence)."""
    import random

    rng = random.Random(0)
    q, items, item_len = (8, 3, 5) if small else (QUERY, ITEMS, ITEM_LEN)
    ids = lambda k: [rng.randrange(1000, 150000) for _ in range(k)]  # noqa: E731
    return [{"query": ids(q), "items": [ids(item_len) for _ in range(items)]} for _ in range(n)]


def _worker(path: str, device: str, backend: str):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.model_executor.model_worker import ModelWorker
    from multiscore.server_args import ServerArgs

    sa = ServerArgs(model_path=path, device=device, dtype="bfloat16", attention_backend=backend, compile="off",
                    disable_radix_cache=True)
    return ModelWorker(sa, ModelConfig.from_server_args(sa))


def _gpu_busy(fn) -> str:
    """Share of a call's wall time the GPU spends in kernels and copies (torch.profiler): what CUDA
    graphs or fewer launches could win back is at most the rest."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if not torch.cuda.is_available():
        return "n/a (no CUDA)"
    for _ in range(2):  # the first profile pays the profiler's own start-up
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            wall_us = (time.perf_counter() - t0) * 1e6
    from torch.autograd import DeviceType

    # The device's own events (kernels, copies), as torch's table sums them: CPU ops carry their
    # kernels' time too, and counting both would double it.
    on_device = [e for e in prof.key_averages() if e.device_type == DeviceType.CUDA and not e.is_user_annotation]
    device_us = sum(e.self_device_time_total for e in on_device)
    launches = sum(e.count for e in on_device)  # kernels and copies: what a CUDA graph would replay
    return f"GPU busy {100 * device_us / wall_us:.0f} % of {wall_us / 1e3:.1f} ms, {launches} kernel launches/copies"


def cmd_forward(args) -> int:
    """Closed loop, one forward per batch of whole SGLang requests (MIS, one sequence each):
    multiscore's two backends, then transformers on the same pairs (query+item, no padding needed)."""
    import torch

    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ScoreSequence
    from multiscore.model_executor.mis_layout import pack_mis

    if args.dry_run:
        use_stand_in()
    device = "cpu" if args.dry_run else "cuda"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sizes, repeats = ((1, 2), 2) if args.dry_run else ((1, 8), 10)
    reqs = _requests(max(sizes), args.dry_run)
    delimiter = 151643
    for backend in ("torch", "flashinfer"):
        worker = _worker(args.dir, device, backend)
        for n in sizes:
            seqs = [ScoreSequence(f"r{i}", pack_mis(r["query"], r["items"], delimiter), 0, len(r["items"]), PoolingParams(),
                                  query_len=len(r["query"]), item_lens=[len(it) for it in r["items"]]) for i, r in enumerate(reqs[:n])]
            ms = _time_ms(lambda: worker.forward(seqs), sync, repeats)
            figure(f"multiscore {backend} MIS, {n} request(s) per forward",
                   f"{ms:.1f} ms, {n * len(reqs[0]['items']) / ms * 1e3:.0f} items/s; {_gpu_busy(lambda: worker.forward(seqs))}")
        worker = None  # frees its weights before the next one loads
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(args.dir, dtype=torch.bfloat16).to(device).eval()
    for n in sizes:
        ids = torch.tensor([r["query"] + it for r in reqs[:n] for it in r["items"]], device=device)  # [n*10, 120+180]

        @torch.inference_mode()
        def run():
            return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.cpu()

        ms = _time_ms(run, sync, repeats)
        figure(f"transformers bf16 (sdpa), {n} request(s) per forward",
               f"{ms:.1f} ms, {ids.shape[0] / ms * 1e3:.0f} items/s; {_gpu_busy(run)}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("env", "kernels"):
        sub.add_parser(name).add_argument("--dry-run", action="store_true")
    b = sub.add_parser("build-model")
    b.add_argument("dir")
    b.add_argument("--tiny", action="store_true")
    f = sub.add_parser("forward")
    f.add_argument("dir")
    f.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    return {"env": cmd_env, "kernels": cmd_kernels, "build-model": cmd_build_model, "forward": cmd_forward}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
