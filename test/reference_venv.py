"""The reference libraries that cannot live in the project's venv (pylate, FlagEmbedding: they pin
transformers <= 5.3) run from their own, made by ``bash test/reference/setup.sh`` (CI makes
it), as subprocesses of the tests."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def reference_python() -> str:
    python = os.environ.get("MULTISCORE_REFERENCE_PYTHON") or str(ROOT / ".venv-reference" / "bin" / "python")
    if not os.path.exists(python):
        pytest.skip("the reference environment is missing: bash test/reference/setup.sh")
    return python


def run_reference(script: str, *args) -> str:
    """stdout of test/reference/``script`` run with ``args`` by the reference venv's python."""
    out = subprocess.run([reference_python(), str(ROOT / "test" / "reference" / script), *map(str, args)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def reference_json(script: str, *args):
    return json.loads(run_reference(script, *args))
