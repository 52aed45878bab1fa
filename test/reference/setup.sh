#!/usr/bin/env bash
# Build the separate virtual environment that holds pylate (the ColBERT reference), FlagEmbedding
# (BGE-M3's and the BGE LLM rerankers') and gritlm (GritLM's); and a second one, with transformers 4,
# for FlagEmbedding's lightweight reranker (bge-reranker-v2.5-gemma2-lightweight), whose CostWiseGemma
# model code predates transformers 5 (FlagEmbedding asks for transformers 4.46).
#
#   bash test/reference/setup.sh [VENV] [VENV4]
#       (defaults: <repo root>/.venv-reference and <repo root>/.venv-reference-tf4)
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
VENV4="${2:-$REPO_ROOT/.venv-reference-tf4}"
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
fi

# The transformers-4 venv: FlagEmbedding without its training-side requirements, plus what importing
# it needs (datasets, peft).
if [ -x "$VENV4/bin/python" ] && "$VENV4/bin/python" -c "import FlagEmbedding, transformers; assert transformers.__version__ == '4.47.1'" >/dev/null 2>&1; then
    echo "transformers-4 reference venv already set up: $VENV4" >&2
else
    "$PYTHON" -m venv "$VENV4"
    PIP4=("$VENV4/bin/pip" -q --disable-pip-version-check)
    CONSTRAINTS4="$(mktemp)"
    printf '%s\n' "$TORCH_SPEC" transformers==4.47.1 >"$CONSTRAINTS4"
    "${PIP4[@]}" install "$TORCH_SPEC"
    "${PIP4[@]}" install -c "$CONSTRAINTS4" transformers==4.47.1 datasets==5.0.1 peft==0.21.2
    "${PIP4[@]}" install -c "$CONSTRAINTS4" --no-deps FlagEmbedding==1.4.2
    rm -f "$CONSTRAINTS4"
fi

for venv in "$VENV" "$VENV4"; do
    if "$venv/bin/pip" list 2>/dev/null | grep -qi '^nvidia-'; then
        echo "error: CUDA packages were installed into $venv; the reference venvs must be CPU-only" >&2
        exit 1
    fi
done

"$VENV/bin/python" -c "import FlagEmbedding, pylate, torch; print('pylate', pylate.__version__, '+ FlagEmbedding (torch', torch.__version__ + ')')"
"$VENV4/bin/python" -c "import FlagEmbedding, transformers; print('FlagEmbedding + transformers', transformers.__version__)"
