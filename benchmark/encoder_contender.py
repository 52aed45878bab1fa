"""One contender of bench_encoders.py, run in its own process (and, for sentence-transformers, its own venv).

``export`` writes the ONNX and OpenVINO exports (fp32 and int8) of a model folder, once, untimed:
ONNX int8 is sentence-transformers' ``export_dynamic_quantized_onnx_model`` (dynamic per-tensor
activations, VNNI kernels when the CPU has them); OpenVINO int8 is NNCF post-training quantization,
what sentence-transformers' ``export_static_quantized_openvino_model`` does, calibrated on 300 seeded
sentences here because its calibration set is a Hub dataset this machine cannot download.

``run`` loads one contender, encodes the inputs once to warm up, then ``--repeats`` times, and prints
one JSON line ``{"seconds": [...], "versions": {...}}``; the outputs of the last run go to ``--out`` (.npy): embeddings
[N, 384] for E1, scores [N] for E2.

    python benchmark/encoder_contender.py export --model DIR --task embed|rerank
    python benchmark/encoder_contender.py run --contender st-onnx-int8 --task embed --model DIR \
        --inputs inputs.json --repeats 5 --out out.npy
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random

import numpy as np
from bench_common import timed_runs  # this folder: the script's own, first on sys.path

BATCH = 64  # sentence-transformers' batch for encode/predict
ONNX_FP32 = "onnx/model.onnx"
OV_FP32 = "openvino/openvino_model.xml"
OV_INT8 = "openvino/openvino_model_qint8_nncf.xml"
CALIBRATION_SENTENCES = 300

# contender -> (library, backend, precision); the library picks the interpreter in bench_encoders.py.
CONTENDERS = {
    "st-torch-fp32": ("sentence-transformers", "torch", "fp32"),
    "st-torch-bf16": ("sentence-transformers", "torch", "bf16"),
    "st-onnx-fp32": ("sentence-transformers", "onnx", "fp32"),
    "st-onnx-int8": ("sentence-transformers", "onnx", "int8"),
    "st-openvino-fp32": ("sentence-transformers", "openvino", "fp32"),
    "st-openvino-bf16": ("sentence-transformers", "openvino", "bf16"),
    "st-openvino-int8": ("sentence-transformers", "openvino", "int8"),
    "multiscore-fp32": ("multiscore", "torch", "fp32"),
    "multiscore-bf16": ("multiscore", "torch", "bf16"),
    # --quantization int8: the linear layers in int8; the rest in fp32, or in bf16 (the "bf16" backend)
    "multiscore-int8": ("multiscore", "torch", "int8"),
    "multiscore-int8-bf16": ("multiscore", "torch+bf16", "int8"),
}
# multiscore contender -> its Engine arguments
MULTISCORE_ARGS = {
    "multiscore-fp32": {"dtype": "float32"},
    "multiscore-bf16": {"dtype": "bfloat16"},
    "multiscore-int8": {"dtype": "float32", "quantization": "int8"},
    "multiscore-int8-bf16": {"dtype": "bfloat16", "quantization": "int8"},
}


def onnx_int8_file(model_dir: pathlib.Path) -> str:
    # model_qint8_avx512_vnni.onnx; model_quint8_avx2.onnx on a CPU without VNNI (unsigned activations)
    found = sorted((model_dir / "onnx").glob("model_q*int8_*.onnx"))
    if not found:
        raise FileNotFoundError(f"no ONNX int8 export in {model_dir}/onnx: run `export` first")
    return f"onnx/{found[0].name}"


def st_class(task: str):
    from sentence_transformers import CrossEncoder, SentenceTransformer

    return SentenceTransformer if task == "embed" else CrossEncoder


def load_st(task: str, model_dir: pathlib.Path, backend: str, precision: str):
    """A SentenceTransformer (embed) or CrossEncoder (rerank) for one backend and precision."""
    import torch

    kwargs: dict = {}
    if backend == "torch" and precision == "bf16":
        kwargs = {"torch_dtype": torch.bfloat16}
    elif backend == "onnx":
        kwargs = {"file_name": ONNX_FP32 if precision == "fp32" else onnx_int8_file(model_dir),
                  "provider": "CPUExecutionProvider"}
    elif backend == "openvino":
        # OpenVINO computes in bf16 by default on CPUs with native bf16: the hint pins the precision.
        hint = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[precision]
        kwargs = {"file_name": OV_INT8 if precision == "int8" else OV_FP32,
                  "ov_config": {"INFERENCE_PRECISION_HINT": hint}}
    return st_class(task)(str(model_dir), device="cpu", backend=backend, model_kwargs=kwargs)


def st_encoder(task: str, model, inputs: dict):
    if task == "embed":
        return lambda: np.asarray(model.encode(inputs["texts"], batch_size=BATCH, convert_to_numpy=True), np.float32)
    pairs = [(inputs["query"], p) for p in inputs["passages"]]
    return lambda: np.asarray(model.predict(pairs, batch_size=BATCH, convert_to_numpy=True), np.float32).reshape(-1)


def multiscore_encoder(task: str, engine, inputs: dict):
    if task == "embed":
        return lambda: np.asarray(engine.embed(inputs["texts"]), np.float32)

    def rerank():
        results = engine.rerank(inputs["query"], inputs["passages"])
        return np.array([r.relevance_score for r in sorted(results, key=lambda r: r.index)], np.float32)

    return rerank


def run(args) -> None:
    library, backend, precision = CONTENDERS[args.contender]
    inputs = json.loads(pathlib.Path(args.inputs).read_text())
    model_dir = pathlib.Path(args.model)
    if library == "multiscore":
        from multiscore import Engine

        with Engine(str(model_dir), **MULTISCORE_ARGS[args.contender]) as engine:
            seconds, out = timed_runs(multiscore_encoder(args.task, engine, inputs), args.repeats)
    else:
        model = load_st(args.task, model_dir, backend, precision)
        seconds, out = timed_runs(st_encoder(args.task, model, inputs), args.repeats)
    np.save(args.out, out)
    print(json.dumps({"seconds": seconds, "versions": versions(library, backend)}))


def versions(library: str, backend: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    packages = {"multiscore": ["multiscore", "torch"], "torch": ["sentence-transformers", "transformers", "torch"],
                "onnx": ["sentence-transformers", "optimum-onnx", "onnxruntime"],
                "openvino": ["sentence-transformers", "optimum-intel", "openvino", "nncf"]}
    found = {}
    for name in packages["multiscore" if library == "multiscore" else backend]:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def cpu_int8_config() -> str:
    flags = pathlib.Path("/proc/cpuinfo").read_text()
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"


def calibration_inputs(tokenizer, words: list[str]) -> list[dict]:
    rng = random.Random(7)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 80))) for _ in range(CALIBRATION_SENTENCES)]
    return [dict(tokenizer([t], truncation=True, max_length=256, return_tensors="np")) for t in texts]


def export(args) -> None:
    """ONNX fp32 + dynamic int8 and OpenVINO fp32 + NNCF int8 exports, written into the model folder."""
    import nncf
    import openvino as ov
    from sentence_transformers import export_dynamic_quantized_onnx_model

    model_dir = pathlib.Path(args.model)
    cls = st_class(args.task)
    onnx_model = cls(str(model_dir), device="cpu", backend="onnx")
    onnx_model.save_pretrained(str(model_dir))
    export_dynamic_quantized_onnx_model(onnx_model, cpu_int8_config(), str(model_dir))

    ov_model = cls(str(model_dir), device="cpu", backend="openvino")
    ov_model.save_pretrained(str(model_dir))
    core_model = ov.Core().read_model(str(model_dir / OV_FP32))
    words = json.loads(pathlib.Path(args.words).read_text())
    calibration = nncf.Dataset(calibration_inputs(ov_model.tokenizer, words))
    quantized = nncf.quantize(core_model, calibration, model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=CALIBRATION_SENTENCES)
    ov.save_model(quantized, str(model_dir / OV_INT8))
    print(json.dumps({"exported": [ONNX_FP32, onnx_int8_file(model_dir), OV_FP32, OV_INT8]}))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export")
    e.add_argument("--model", required=True)
    e.add_argument("--task", choices=["embed", "rerank"], required=True)
    e.add_argument("--words", required=True, help="JSON list of words for the calibration sentences")
    r = sub.add_parser("run")
    r.add_argument("--contender", choices=sorted(CONTENDERS), required=True)
    r.add_argument("--task", choices=["embed", "rerank"], required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--inputs", required=True)
    r.add_argument("--repeats", type=int, default=5)
    r.add_argument("--out", required=True)
    args = p.parse_args(argv)
    export(args) if args.command == "export" else run(args)


if __name__ == "__main__":
    main()
