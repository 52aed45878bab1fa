"""text-embeddings-inference's router flags on our command line (entrypoints/tei_args.py)."""

import json
import logging
import os

import pytest

from multiscore.launch_server import parse_args, server_args_from


def test_a_tei_launch_command_runs_unchanged(caplog, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with caplog.at_level(logging.WARNING, logger="multiscore.entrypoints.tei_args"):
        args = server_args_from(parse_args([
            "--model-id", "BAAI/bge-base-en-v1.5", "--revision", "refs/pr/5", "--hostname", "0.0.0.0", "-p", "8080",
            "--pooling", "mean", "--auto-truncate", "--max-client-batch-size", "64", "--max-batch-tokens", "8192",
            "--max-concurrent-requests", "128", "--payload-limit", "2000000", "--default-prompt-name", "query",
            "--dtype", "float32", "--tokenization-workers", "2", "--json-output", "--prometheus-port", "9001",
            "--hf-token", "hf_x", "--huggingface-hub-cache", "/data", "--device-id", "1",
        ]))
    assert (args.model_path, args.revision, args.host, args.port) == ("BAAI/bge-base-en-v1.5", "refs/pr/5", "0.0.0.0", 8080)
    assert (args.max_items_per_request, args.max_prefill_tokens, args.max_queued_requests) == (64, 8192, 128)
    assert args.max_request_body_bytes == 2_000_000 and args.base_gpu_id == 1 and args.auto_truncate
    assert args.default_prompt_name == "query" and args.pooler_overrides.pooling_type == "mean"
    assert os.environ["HF_TOKEN"] == "hf_x" and os.environ["HF_HUB_CACHE"] == "/data"
    assert "ignored: json_output, prometheus_port, tokenization_workers" in caplog.text


def test_pooling_merges_with_the_pooler_config():
    args = server_args_from(parse_args(["--model-path", "m", "--pooling", "last-token", "--pooler-config",
                                        '{"use_activation": false}']))
    assert json.loads(args.pooler_config) == {"use_activation": False, "pooling_type": "LAST"}
    assert server_args_from(parse_args(["--model-path", "m", "--pooling", "splade"])).pooler_config is None
    with pytest.raises(ValueError, match="--pooling cls and --pooler-config's pooling_type disagree"):
        server_args_from(parse_args(["--model-path", "m", "--pooling", "cls", "--pooler-config", '{"pooling_type": "MEAN"}']))


def test_refused_and_conflicting_flags():
    with pytest.raises(ValueError, match="--dense-path: multiscore reads a model's Dense modules from its modules.json"):
        server_args_from(parse_args(["--model-path", "m", "--dense-path", "2_Dense_1024"]))
    with pytest.raises(ValueError, match="give --default-prompt-name or --default-prompt, not both"):
        server_args_from(parse_args(["--model-path", "m", "--default-prompt-name", "q", "--default-prompt", "query: "]))
