import argparse

import pytest

from multiscore.server_args import ServerArgs


def _parse(*argv):
    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    return ServerArgs.from_cli_args(parser.parse_args(["--model-path", "m", *argv]))


def test_cli_defaults_come_from_the_dataclass():
    args = _parse()
    defaults = ServerArgs(model_path="m")
    assert args == defaults.replace(api_key=args.api_key)
    assert args.host == "127.0.0.1" and args.port == 30000 and not args.mis_enabled


def test_cli_flags():
    args = _parse("--multi-item-scoring-delimiter", "7", "--context-length", "512", "--dtype", "bfloat16")
    assert args.multi_item_scoring_delimiter == 7 and args.mis_enabled
    assert args.context_length == 512 and args.dtype == "bfloat16"
    assert _parse("--num-threads", "1").num_threads == 1 and _parse().num_threads is None
    assert _parse().disable_gc_freeze is False and _parse("--disable-gc-freeze").disable_gc_freeze is True


def test_compile_flags_ours_and_sglangs():
    from multiscore.entrypoints.sglang_args import translate_engine_kwargs

    assert _parse().compile == "auto" and _parse("--compile", "off").compile == "off"
    assert _parse("--enable-torch-compile").compile == "on"  # SGLang's switch
    assert translate_engine_kwargs({"enable_torch_compile": True}) == {"compile": "on"}
    assert translate_engine_kwargs({"enable_torch_compile": False}) == {"compile": "auto"}


def test_model_overrides_json():
    args = ServerArgs(model_path="m", json_model_override_args='{"num_labels": 12}')
    assert args.model_overrides == {"num_labels": 12}
    with pytest.raises(ValueError, match="not valid JSON"):
        ServerArgs(model_path="m", json_model_override_args="{num_labels: 12")
    with pytest.raises(ValueError, match="JSON object"):
        ServerArgs(model_path="m", json_model_override_args="[1]")


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="--device"):
        ServerArgs(model_path="m", device="tpu")
    with pytest.raises(ValueError, match="--max-prefill-tokens"):
        ServerArgs(model_path="m", max_prefill_tokens=0)
    with pytest.raises(ValueError, match="--compile must be auto, on or off, got 'yes'"):
        ServerArgs(model_path="m", compile="yes")
    with pytest.raises(ValueError, match="--num-threads"):
        ServerArgs(model_path="m", num_threads=0)
    with pytest.raises(ValueError, match="--http must be auto, h11 or httptools"):
        ServerArgs(model_path="m", http="h2")
    with pytest.raises(ValueError, match="--loop must be auto, asyncio or uvloop"):
        ServerArgs(model_path="m", loop="trio")
    with pytest.raises(ValueError, match="--colbert-style must be pylate or vllm"):
        ServerArgs(model_path="m", colbert_style="ragatouille")
    with pytest.raises(TypeError):
        ServerArgs(model_path="m", not_a_flag=1)


def test_config_is_frozen():
    with pytest.raises(Exception):
        ServerArgs(model_path="m").port = 1
