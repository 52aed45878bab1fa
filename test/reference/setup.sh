#!/usr/bin/env bash
# Build the separate virtual environment that holds pylate (the ColBERT reference), FlagEmbedding
# (BGE-M3's and the BGE LLM rerankers') and gritlm (GritLM's).
#
#   bash test/reference/setup.sh [VENV]      (default VENV: <repo root>/.venv-reference)
#
# pylate 1.6.0 pins transformers<=5.3.0 and sentence-transformers==5.3.0, so it cannot live in the
# project venv; the tests run test/reference/*_reference.py with this venv's python instead.
# FlagEmbedding is installed with --no-deps as well (ir-datasets and its other training-side
# requirements are never imported by BGEM3FlagModel), with peft, which it imports; so is gritlm (its
# wandb / mteb requirements serve training and evaluation, which GritLM.encode never imports).
# torch is the CPU wheel, pinned so that no later install can swap it for a CUDA build. pylate is
# installed with --no-deps: its own requirement list would pull packages the reference never uses.
# Idempotent: does nothing when the venv already imports pylate. PYTHON picks the interpreter.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-$REPO_ROOT/.venv-reference}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${PYLATE_TORCH_SPEC:-torch==2.13.0+cpu}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pylate, FlagEmbedding, gritlm" >/dev/null 2>&1; then
    echo "pylate venv already set up: $VENV" >&2
else
    "$PYTHON" -m venv "$VENV"
    PIP=("$VENV/bin/pip" -q --disable-pip-version-check)
    # Keep torch where it is for the installs that follow (a local version satisfies ==2.13.0).
    CONSTRAINTS="$(mktemp)"
    trap 'rm -f "$CONSTRAINTS"' EXIT
    printf '%s\n' "$TORCH_SPEC" transformers==5.3.0 sentence-transformers==5.3.0 >"$CONSTRAINTS"
    "${PIP[@]}" install "$TORCH_SPEC"
    "${PIP[@]}" install -c "$CONSTRAINTS" \
        transformers==5.3.0 sentence-transformers==5.3.0 ujson==5.12.0 scipy datasets
    "${PIP[@]}" install -c "$CONSTRAINTS" --no-deps pylate==1.6.0 FlagEmbedding==1.4.2 gritlm==1.0.2
    "${PIP[@]}" install -c "$CONSTRAINTS" peft
    if "$VENV/bin/pip" list 2>/dev/null | grep -qi '^nvidia-'; then
        echo "error: CUDA packages were installed into $VENV; the reference venv must be CPU-only" >&2
        exit 1
    fi
fi

"$VENV/bin/python" -c "import FlagEmbedding, pylate, torch; print('pylate', pylate.__version__, '+ FlagEmbedding (torch', torch.__version__ + ')')"
