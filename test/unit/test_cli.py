"""``multiscore serve MODEL [flags]`` (vLLM's form): the command dispatch (multiscore/cli.py)."""

import pathlib
import subprocess
import sys

from multiscore.cli import main


def test_usage_and_unknown_commands(capsys):
    assert main(["--help"]) == 0 and "multiscore serve MODEL" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["generate", "x"]) == 2 and "unknown command 'generate'" in capsys.readouterr().err


def test_serve_reports_a_bad_model_and_exits_non_zero(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing"), "--max-model-len", "512"]) == 1
    assert "model path not found" in capsys.readouterr().err


def test_the_console_script_is_installed():
    """pyproject's [project.scripts]: ``multiscore`` beside the interpreter of the environment."""
    script = pathlib.Path(sys.executable).parent / "multiscore"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "multiscore run-batch" in out.stdout
