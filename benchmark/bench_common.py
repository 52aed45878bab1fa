"""What every benchmark here shares: timing, the machine (CPU model, its bf16 / int8 features, load),
the reference rates of torch's own products, and table printing."""

from __future__ import annotations

import pathlib
import platform
import statistics
import time

import torch


def median_time(fn, repeats: int, between=None) -> tuple[float, object]:
    """Warm up once (first-call allocations, lazy init), then the median of ``repeats`` runs.
    ``between``: called untimed after each run (a reference measured under the same load), then
    ``fn`` once more untimed: the reference's products evict the caches, and the run right after them
    took 55.6-55.8 ms against 51.7-52.0 ms (W1-bf16 MIS, AMX Xeon); the untimed run gives 51.8-51.9."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if between is not None:
            between()
            fn()
    return statistics.median(times), result


def timed_runs(fn, repeats: int) -> tuple[list[float], object]:
    """Warm up once, then each of ``repeats`` runs' seconds and the last run's result (what the
    contenders, each in its own venv, report for the caller to take the median of)."""
    out = fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - start)
    return seconds, out


def matmul_rate(repeats: int = 5) -> float:
    """FLOP/s of torch's fp32 [2048x2048]·[2048x2048] product on this machine, now."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t, _ = median_time(lambda: torch.mm(a, b), repeats)
    return 2 * 2048**3 / t


def linear_rate(rows: int, in_features: int, out_features: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """FLOP/s of torch's ``F.linear`` in ``dtype`` at a model's own shape ([rows, in] x [out, in]ᵀ)."""
    x = torch.randn(rows, in_features).to(dtype)
    w = torch.randn(out_features, in_features).to(dtype)
    t, _ = median_time(lambda: torch.nn.functional.linear(x, w), repeats)
    return 2 * rows * in_features * out_features / t


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, from /proc."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_features() -> str:
    """The flags that decide 16-bit and int8 speed: AMX (bf16 / int8 tiles), AVX512-BF16, VNNI."""
    try:
        flags = set(pathlib.Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "flags unknown"
    wanted = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")
    have = [f for f in wanted if f in flags]
    return ", ".join(have) + ("" if "amx_tile" in flags else " (no AMX)")


def machine_line() -> str:
    import os

    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_model()} "
            f"({os.cpu_count()} cores; {cpu_features()})")


def load_average() -> str:
    """Other processes on a small machine skew every timing; print the load so a reader can tell."""
    try:
        return pathlib.Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def print_rows(header, body, markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for r in body:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for r in [header, *body]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def interleaved(variants, repeats: int) -> tuple[dict, dict]:
    """Each variant once per round, ``repeats`` rounds after a warm-up one: -> (median seconds, output) by
    name. A 2-core machine's load drifts by tens of percent over a minute; taking turns spreads it evenly."""
    outputs = {name: fn() for name, fn in variants}
    times = {name: [] for name, _ in variants}
    for _ in range(repeats):
        for name, fn in variants:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}, outputs
