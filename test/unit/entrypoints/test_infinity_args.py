"""Infinity's server flags on our command line (entrypoints/infinity_args.py)."""

import json
import logging

import pytest

from multiscore.launch_server import parse_args, server_args_from


def test_an_infinity_launch_command_runs_unchanged(caplog):
    with caplog.at_level(logging.WARNING, logger="multiscore.entrypoints.infinity_args"):
        args = server_args_from(parse_args([
            "--model-id", "BAAI/bge-small-en-v1.5", "--served-model-name", "bge", "--revision", "main",
            "--host", "0.0.0.0", "--port", "7997", "--url-prefix", "/v1", "--batch-size", "32", "--engine", "torch",
            "--dtype", "float32", "--device", "cpu", "--pooling-method", "cls", "--no-model-warmup",
            "--vector-disk-cache", "--no-bettertransformer", "--permissive-cors", "--api-key", "k",
        ]))
    assert (args.model_path, args.served_model_name, args.revision) == ("BAAI/bge-small-en-v1.5", "bge", "main")
    assert (args.host, args.port, args.dtype, args.device, args.api_key) == ("0.0.0.0", 7997, "float32", "cpu", "k")
    assert json.loads(args.pooler_config) == {"pooling_type": "CLS"}
    assert ("ignored: batch_size, bettertransformer, model_warmup, permissive_cors, vector_disk_cache"
            in caplog.text)


def test_int8_is_the_int8_quantization_and_compile_is_a_switch():
    args = server_args_from(parse_args(["--model-id", "m", "--dtype", "int8", "--compile"]))
    assert (args.dtype, args.quantization, args.compile) == ("auto", "int8", "on")
    args = server_args_from(parse_args(["--model-id", "m", "--no-compile", "--pooling-method", "auto"]))
    assert (args.compile, args.pooler_config) == ("off", None)
    assert server_args_from(parse_args(["--model-id", "m", "--compile", "off"])).compile == "off"  # ours, unchanged
    args = server_args_from(parse_args(["--model-id", "m", "--trust-remote-code", "--no-trust-remote-code"]))
    assert args.trust_remote_code is False


@pytest.mark.parametrize("flags, message", [
    (["--engine", "optimum"], "--engine optimum: multiscore runs its own torch engine only"),
    (["--embedding-dtype", "binary"], "--embedding-dtype binary: embeddings are float32 here"),
    (["--dtype", "fp8"], "--dtype fp8 is not supported"),
    (["--url-prefix", "/api"], "--url-prefix /api: routes are served at / and /v1/ only"),
    (["--preload-only"], "--preload-only downloads the model and exits"),
    (["--pooling-method", "mean", "--pooler-config", '{"pooling_type": "CLS"}'],
     "--pooling-method mean and the pooling type already given disagree"),
])
def test_what_is_refused_names_the_flag(flags, message):
    with pytest.raises(ValueError, match=message):
        server_args_from(parse_args(["--model-id", "m", *flags]))


def test_a_second_model_id_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--model-id", "a", "--model-id", "b"])
    assert exit_info.value.code == 2
    assert "--model-id given twice: multiscore serves one model per server" in capsys.readouterr().err


def test_infinity_environment_variables_are_its_flags_and_the_command_line_wins(monkeypatch):
    for key, value in {"INFINITY_MODEL_ID": "BAAI/bge-small-en-v1.5;", "INFINITY_PORT": "7997", "INFINITY_BATCH_SIZE": "32",
                       "INFINITY_DTYPE": "int8", "INFINITY_MODEL_WARMUP": "false", "INFINITY_COMPILE": "true",
                       "INFINITY_API_KEY": "k", "INFINITY_HOST": "0.0.0.0"}.items():
        monkeypatch.setenv(key, value)
    args = server_args_from(parse_args(["--port", "8000"]))
    assert (args.model_path, args.port, args.host, args.api_key) == ("BAAI/bge-small-en-v1.5", 8000, "0.0.0.0", "k")
    assert (args.quantization, args.compile) == ("int8", "on")
    assert server_args_from(parse_args(["--model-path", "m", "--no-compile"])).model_path == "m"  # flags win
    assert server_args_from(parse_args(["--model-id", "m"])).model_path == "m"  # not "given twice"


def test_an_environment_naming_several_models_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("INFINITY_MODEL_ID", "a;b")
    with pytest.raises(SystemExit):
        parse_args([])
    assert "INFINITY_MODEL_ID='a;b' names several models" in capsys.readouterr().err
