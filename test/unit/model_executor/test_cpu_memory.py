"""The model process keeps freed tensor memory for reuse (cpu_memory.py): a reused large block
faults no pages in again; --return-freed-memory keeps the C library's defaults."""

import argparse
import subprocess
import sys

import pytest

from multiscore.server_args import ServerArgs
from worker_batches import mixed_inputs, score_both_ways, worker

# A fresh interpreter (malloc settings are per process): allocate, fill and free a 64 MiB tensor
# nineteen times, and print the page faults of the last seven. The first ones grow the heap (new
# pages): until enough small chunks sit in glibc's per-thread cache, a small allocation made with
# each block (its tensor's bookkeeping) keeps the freed block from merging back, so the next one,
# asked with its alignment slack, does not fit; how many passes that takes depends on what the
# imports left on the heap (2 to 9 measured). A server reaches the steady state in its warm-up.
_FAULTS = """
import resource, sys, torch
from multiscore.model_executor.cpu_memory import keep_freed_memory
if sys.argv[1] == "keep":
    print(keep_freed_memory())
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(12):
    t = torch.empty(64 << 20, dtype=torch.uint8); t.fill_(1); del t
before = faults()
for _ in range(7):
    t = torch.empty(64 << 20, dtype=torch.uint8); t.fill_(1); del t
print(faults() - before)
"""


def page_faults(mode: str) -> tuple[list[str], int]:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True)
    lines = out.stdout.split("\n")[:-1]
    return lines[:-1], int(lines[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_kept_memory_is_reused_without_page_faults():
    _, default_faults = page_faults("default")
    said, kept_faults = page_faults("keep")
    assert said == ["freed memory kept for reuse (glibc mallopt: mmap threshold 1 GiB, no trim)"]
    # glibc's default maps each 64 MiB block afresh and faults it in on every fill: 16384 pages of
    # 4 KiB (measured here), or 32 of 2 MiB where transparent huge pages are always on.
    assert default_faults >= 7 * 32
    assert kept_faults < default_faults / 20


def test_worker_reports_the_choice_and_the_flag_opts_out(tiny_model):
    path = tiny_model("qwen3", "seqcls")
    kept = worker(path)
    assert kept.cpu_memory.startswith("freed memory kept for reuse")
    returned = worker(path, return_freed_memory=True)
    assert returned.cpu_memory == "returned to the OS (--return-freed-memory: the C library's defaults)"
    query, items = mixed_inputs()
    assert score_both_ways(kept, query, items, None) == score_both_ways(returned, query, items, None)


def test_cli_flag():
    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    assert ServerArgs.from_cli_args(parser.parse_args([])).return_freed_memory is False
    assert ServerArgs.from_cli_args(parser.parse_args(["--return-freed-memory"])).return_freed_memory is True
