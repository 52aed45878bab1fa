"""Write ``summary.md`` for scripts/gpu_check.sh from ``steps.tsv`` and the step logs (stdlib only,
so it runs even where the project does not import). Rerun after every step: a run cut short still
leaves a summary of what finished.

steps.tsv, one line per step: name, status (PASS/FAIL/TIMEOUT/SKIP/RUNNING), exit code, seconds,
timeout seconds, log file (relative to OUT). Key figures come from the log: ``figure: k = v`` lines
(scripts/gpu_check.py), pytest's last line, bench_serving's SLO line.

    python scripts/gpu_check_summary.py OUT [--title TEXT]
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

STATUSES = ("PASS", "FAIL", "TIMEOUT", "SKIP", "RUNNING")
PYTEST_LINE = re.compile(r"^=*\s*((?:\d+ (?:passed|failed|skipped|errors?|deselected|xfailed|xpassed|warnings?)"
                         r"(?:, )?)+) in [\d.]+s")
BENCH_LINES = (re.compile(r"^items/s at the highest rate with p99 <= .*$"), re.compile(r"^no tested rate kept p99 .*$"),
               re.compile(r"^device: .*$"), re.compile(r"^multiscore within the SLO vs transformers.*$"))
TAIL_LINES = 25


def read_steps(out: pathlib.Path) -> list[dict]:
    rows = []
    path = out / "steps.tsv"
    if not path.exists():
        return rows
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 6:
            continue
        name, status, rc, secs, timeout, log = parts[:6]
        rows.append(dict(name=name, status=status if status in STATUSES else f"?{status}", rc=rc, secs=secs,
                         timeout=timeout, log=log, note=parts[6] if len(parts) > 6 else ""))
    return rows


def key_figures(text: str) -> list[str]:
    """The figures a reader wants in the table, in log order."""
    figs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("figure: "):
            figs.append(line[len("figure: "):])
            continue
        m = PYTEST_LINE.match(line)
        if m:
            figs.append("pytest: " + m.group(1))
            continue
        if any(p.match(line) for p in BENCH_LINES):
            figs.append(line)
    return figs


def tail(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-n:])


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render(out: pathlib.Path, title: str) -> str:
    steps = read_steps(out)
    lines = [f"# {title}", "", "| step | status | key figures | seconds (timeout) |", "|---|---|---|---|"]
    problems = []
    for s in steps:
        log_path = out / s["log"]
        text = log_path.read_text(errors="replace") if s["log"] and log_path.is_file() else ""
        figs = key_figures(text)
        if s["note"]:
            figs.insert(0, s["note"])
        if s["status"] in ("FAIL", "TIMEOUT") and not figs:
            last = [ln for ln in text.splitlines() if ln.strip()]
            figs = [f"last line: {last[-1][:200]}" if last else "no output"]
        lines.append(f"| {s['name']} | {s['status']} | {_cell('<br>'.join(figs)) or '-'} | {s['secs']} ({s['timeout']}) |")
        if s["status"] in ("FAIL", "TIMEOUT", "RUNNING"):  # RUNNING: the call was cut short in this step
            problems.append(f"## {s['name']}: {s['status']} (exit {s['rc']}), last {TAIL_LINES} lines of {s['log']}\n\n"
                            f"```\n{tail(text)}\n```")
    if not steps:
        lines.append("| (no step recorded) | - | - | - |")
    return "\n".join(lines + [""] + problems) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--title", default="gpu_check")
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    text = render(out, args.title)
    (out / "summary.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
