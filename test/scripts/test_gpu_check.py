"""scripts/gpu_check.sh's plumbing on CPU (its dry run) and the summary it writes.

The whole dry run takes minutes here (two servers), so the end-to-end runs pick steps with
GPU_CHECK_STEPS and replace some commands (GPU_CHECK_CMD_<step>) to reach every status: PASS, FAIL,
TIMEOUT, SKIP for a step not selected and for one whose dependency did not pass.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
STEPS = ["env", "kernels", "gpu_tests", "build_model", "bench_flashinfer", "bench_torch", "forward"]
MARKER_SLEEP = "987654"  # a sleep the step leaves behind, found by its argument


def run_check(tmp_path, **env) -> dict[str, str]:
    out = tmp_path / "out"
    full_env = {**os.environ, "OUT": str(out), "GPU_CHECK_DRY_RUN": "1", "PYTHON": sys.executable, **env}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], env=full_env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = (out / "summary.md").read_text()
    assert summary in proc.stdout  # printed at the end, so the run tool's output tail shows it
    return table_statuses(summary)


def table_statuses(summary: str) -> dict[str, str]:
    rows = [line.split("|") for line in summary.splitlines() if line.startswith("| ") and not line.startswith("| step")]
    return {cells[1].strip(): cells[2].strip() for cells in rows}


def leftover_sleeps() -> list[int]:
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", MARKER_SLEEP.encode()]:
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def test_dry_run_steps_pass_and_the_others_are_recorded_as_skipped(tmp_path):
    statuses = run_check(tmp_path, GPU_CHECK_STEPS="env,gpu_tests")
    assert statuses == {"env": "PASS", "kernels": "SKIP", "gpu_tests": "PASS", "build_model": "SKIP",
                        "bench_flashinfer": "SKIP", "bench_torch": "SKIP", "forward": "SKIP"}
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "flashinfer = cpu-stand-in" in summary and "FLASHINFER_IS_DEFAULT_ON_CUDA" in summary
    assert "pytest: " in summary and "skipped" in summary
    assert sorted(p.name for p in (tmp_path / "out").glob("*.log")) == [f"{i:02d}-{s}.log" for i, s in enumerate(STEPS, 1)]


def test_a_failed_and_a_hung_step_are_recorded_and_the_run_goes_on(tmp_path):
    statuses = run_check(
        tmp_path, GPU_CHECK_BUDGET_S="1", GPU_CHECK_STEPS="env,build_model,bench_torch,forward",
        GPU_CHECK_CMD_env=f"sleep {MARKER_SLEEP} & echo 'figure: answer = 42'; echo boom >&2; exit 3",
        GPU_CHECK_CMD_build_model="echo started; sleep 600",  # every step gets at least 5 s
        GPU_CHECK_CMD_forward="echo never",
    )
    assert statuses == {"env": "FAIL", "kernels": "SKIP", "gpu_tests": "SKIP", "build_model": "TIMEOUT",
                        "bench_flashinfer": "SKIP", "bench_torch": "SKIP", "forward": "SKIP"}
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| env | FAIL | answer = 42 |" in summary
    assert "## env: FAIL (exit 3)" in summary and "boom" in summary  # the log's tail
    assert "## build_model: TIMEOUT (exit 124)" in summary and "started" in summary
    assert "needs build_model, which did not pass" in summary
    assert leftover_sleeps() == []  # what the failed step left running was killed


def test_summary_figures_from_pytest_bench_and_figure_lines(tmp_path):
    from gpu_check_summary import render

    (tmp_path / "a.log").write_text("noise\nfigure: gpu = H100, sm_90\n=== 12 passed, 3 skipped in 4.20s ===\n")
    (tmp_path / "b.log").write_text("device: H100; workload ...\n| rate | ...\n"
                                    "items/s at the highest rate with p99 <= 500 ms: 2400 (240 req/s); SGLang ...\n")
    (tmp_path / "c.log").write_text("line 1\nTraceback\nValueError: x | y\n")
    (tmp_path / "steps.tsv").write_text("a\tPASS\t0\t5\t60\ta.log\nb\tPASS\t0\t50\t80\tb.log\n"
                                        "c\tFAIL\t1\t2\t40\tc.log\nd\tSKIP\t-\t0\t-\td.log\tneeds c\n")
    text = render(tmp_path, "t")
    assert table_statuses(text) == {"a": "PASS", "b": "PASS", "c": "FAIL", "d": "SKIP"}
    assert "gpu = H100, sm_90<br>pytest: 12 passed, 3 skipped" in text
    assert "items/s at the highest rate with p99 <= 500 ms: 2400 (240 req/s)" in text
    assert "last line: ValueError: x \\| y" in text  # a failure without figures shows its last line
    assert "| d | SKIP | needs c |" in text


@pytest.mark.parametrize("content", ["", "garbage line\n"])
def test_summary_without_steps_still_renders(tmp_path, content):
    from gpu_check_summary import render

    (tmp_path / "steps.tsv").write_text(content)
    assert "(no step recorded)" in render(tmp_path, "t")
