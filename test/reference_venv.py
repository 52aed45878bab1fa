"""The reference libraries that cannot live in the project's venv (pylate, FlagEmbedding: they pin
transformers <= 5.3) run from their own, made by ``bash test/reference/setup.sh`` (CI makes
it), as subprocesses of the tests. FlagEmbedding's lightweight reranker (its CostWiseGemma code
predates transformers 5) runs from a second one with transformers 4 (``TRANSFORMERS_4``)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


TRANSFORMERS_5, TRANSFORMERS_4 = ".venv-reference", ".venv-reference-tf4"
_PYTHON_VARIABLES = {TRANSFORMERS_5: "MULTISCORE_REFERENCE_PYTHON", TRANSFORMERS_4: "MULTISCORE_REFERENCE_TF4_PYTHON"}


def reference_python(venv: str = TRANSFORMERS_5) -> str:
    python = os.environ.get(_PYTHON_VARIABLES[venv]) or str(ROOT / venv / "bin" / "python")
    if not os.path.exists(python):
        pytest.skip("the reference environment is missing: bash test/reference/setup.sh")
    return python


def run_reference(script: str, *args, venv: str = TRANSFORMERS_5) -> str:
    """stdout of test/reference/``script`` run with ``args`` by the reference venv's python."""
    out = subprocess.run([reference_python(venv), str(ROOT / "test" / "reference" / script), *map(str, args)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def reference_json(script: str, *args, venv: str = TRANSFORMERS_5):
    return json.loads(run_reference(script, *args, venv=venv))
