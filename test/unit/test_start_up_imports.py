"""Start-up imports, in a fresh interpreter: the scheduler process does not import the HTTP layer,
and building a model imports neither torch._dynamo nor torch.fx's symbolic shapes (~2 s of every
start-up before, for nothing: the model is built on the meta device and filled from the checkpoint).
``import multiscore`` still gives every public name."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_scheduler_module_does_not_import_the_http_layer():
    seen = _run("""
        import json, sys
        import multiscore.scheduler.scheduler
        print(json.dumps({m: m in sys.modules for m in ("fastapi", "uvicorn", "multiscore.entrypoints.engine")}))
    """)
    assert seen == {"fastapi": False, "uvicorn": False, "multiscore.entrypoints.engine": False}


@pytest.mark.parametrize("arch, head", [("qwen3", "seqcls"), ("bert", "embed")])
def test_loading_a_model_imports_no_compiler(tiny_model, arch, head):
    path = tiny_model(arch, head)
    seen = _run(f"""
        import json, sys, torch
        from multiscore.configs.model_config import ModelConfig
        from multiscore.model_executor.weight_loader import load_model
        from multiscore.server_args import ServerArgs
        config = ModelConfig.from_server_args(ServerArgs(model_path={str(path)!r}))
        model = load_model(config, torch.device("cpu"), torch.float32)
        finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
        print(json.dumps({{"finite": finite, "init": torch.nn.init.normal_.__name__,
                          **{{m: m in sys.modules for m in ("torch._dynamo", "torch.fx.experimental.symbolic_shapes")}}}}))
    """)
    assert seen == {"finite": True, "init": "normal_", "torch._dynamo": False,
                    "torch.fx.experimental.symbolic_shapes": False}


def test_the_package_gives_its_public_names_on_first_use():
    import multiscore
    from multiscore import LLM, Engine, PoolingParams, ScoreResult

    assert Engine.__module__ == "multiscore.entrypoints.engine" and LLM.__module__ == "multiscore.entrypoints.llm"
    assert PoolingParams.__name__ == "PoolingParams" and ScoreResult.__name__ == "ScoreResult"
    assert set(multiscore.__all__) <= set(dir(multiscore))
    with pytest.raises(AttributeError, match="no attribute 'Engin'"):
        multiscore.Engin


def test_importing_the_engine_leaves_torch_to_engine_start():
    seen = _run("""
        import json, sys
        from multiscore import Engine
        print(json.dumps({m: m in sys.modules for m in ("torch", "transformers", "fastapi")}))
    """)
    assert seen == {"torch": False, "transformers": False, "fastapi": False}


def test_a_failed_import_during_start_up_leaves_no_model_process(tiny_model, monkeypatch):
    from multiscore.entrypoints import early_start
    from multiscore.server_args import ServerArgs
    from multiscore.tokenizer.replicas import ReplicaSet

    started = []

    class Recorded(ReplicaSet):
        def __init__(self, server_args):
            super().__init__(server_args)
            started.append(self)

    monkeypatch.setattr(early_start, "ReplicaSet", Recorded)
    args = ServerArgs(model_path=str(tiny_model("qwen3", "seqcls")), num_threads=1)
    with pytest.raises(ModuleNotFoundError, match="no_such_front_end"):
        early_start.start_runtime(args, "no_such_front_end")
    assert len(started) == 1 and started[0].processes
    assert not any(process.is_alive() for process in started[0].processes)
