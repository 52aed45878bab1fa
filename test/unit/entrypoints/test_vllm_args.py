"""vLLM's ``vllm serve`` flags on our command line (entrypoints/vllm_args.py), parsed as launch_server parses them."""

import json
import logging

import pytest

from multiscore.launch_server import parse_args, server_args_from


def _args(*argv):
    return server_args_from(parse_args(["--model-path", "m", *argv]))


def test_an_upstream_vllm_command_line_runs_unchanged(caplog):
    # tests/entrypoints/pooling/scoring/test_qwen3_reranker_online.py's flags, and its --hf-overrides
    overrides = {"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"]}
    with caplog.at_level(logging.WARNING, logger="multiscore.entrypoints.vllm_args"):
        args = _args("--runner", "pooling", "--enforce-eager", "--max-model-len", "512", "--gpu-memory-utilization",
                     "0.2", "--chat-template", "t.jinja", "--hf-overrides", json.dumps(overrides))
    assert args.context_length == 512 and args.compile == "off" and args.chat_template == "t.jinja"
    assert args.runner == "pooling"
    assert args.model_overrides == overrides
    assert "ignored: gpu_memory_utilization" in caplog.text


def test_several_served_model_names():
    args = _args("--served-model-name", "org/model", "alias")
    assert (args.model_name, args.model_names) == ("org/model", ("org/model", "alias"))
    assert _args("--served-model-name", "one").model_names == ("one",)
    assert _args().model_names == ("m",)


def test_renamed_flags():
    args = _args("--tokenizer", "tok", "-dp", "2", "--max-num-batched-tokens", "4096", "--no-enable-prefix-caching",
                 "--dtype", "half")
    assert (args.tokenizer_path, args.dp_size, args.max_prefill_tokens) == ("tok", 2, 4096)
    assert args.disable_radix_cache is True and args.dtype == "float16"
    assert _args("--enable-prefix-caching").disable_radix_cache is False
    assert server_args_from(parse_args(["--model", "org/name"])).model_path == "org/name"
    assert _args("--data-parallel-size", "3").dp_size == 3 and _args("--dtype", "float").dtype == "float32"


@pytest.mark.parametrize("text,length", [("512", 512), ("8k", 8000), ("32K", 32768), ("25.6k", 25600),
                                         ("1m", 1_000_000), ("auto", None), ("-1", None)])
def test_max_model_len_takes_vllms_forms(text, length):
    assert _args("--max-model-len", text).context_length == length


@pytest.mark.parametrize("text", ["0", "1.5", "ten", "8x"])
def test_a_malformed_max_model_len_is_a_usage_error(text, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model-path", "m", "--max-model-len", text])
    assert "--max-model-len" in capsys.readouterr().err


def test_hf_overrides_are_merged_over_ours():
    args = _args("--json-model-override-args", '{"num_labels": 3, "method": "a"}', "--hf-overrides", '{"method": "b"}')
    assert args.model_overrides == {"num_labels": 3, "method": "b"}
    with pytest.raises(ValueError, match="--hf-overrides is not valid JSON"):
        _args("--hf-overrides", "{nope")
    with pytest.raises(ValueError, match="--hf-overrides must be a JSON object"):
        _args("--hf-overrides", "[1]")


def test_old_task_flag_maps_to_runner_and_convert():
    assert _args("--task", "embed").convert == "embed"
    assert _args("--task", "score").convert == "classify"
    assert _args("--task", "auto").convert == "auto"
    assert _args("--convert", "classify").convert == "classify"
    with pytest.raises(ValueError, match="reward models are not served"):
        _args("--task", "reward")
    with pytest.raises(ValueError, match="--task embed and --convert classify disagree"):
        _args("--task", "embed", "--convert", "classify")


@pytest.mark.parametrize("argv,message", [
    (["--runner", "generate"], "multiscore serves pooling models"),
    (["--task", "generate"], "multiscore serves pooling models"),
    (["-tp", "2"], "--tensor-parallel-size 2: multiscore runs one model per replica"),
    (["--pipeline-parallel-size", "4"], "--pipeline-parallel-size 4"),
    (["--pooler-config", '{"pooling_type": "STEP"}'], "process reward models are not served"),
    (["--override-pooler-config", '{"step_tag_id": 9}'], "step_tag_id: process reward models"),
])
def test_promises_not_kept_are_refused(argv, message):
    with pytest.raises(ValueError, match=message):
        _args(*argv)


def test_single_replica_and_no_effect_flags_are_accepted(caplog):
    with caplog.at_level(logging.WARNING, logger="multiscore.entrypoints.vllm_args"):
        args = _args("-tp", "1", "--max-num-seqs", "64", "--disable-log-requests", "-O", "3", "--block-size", "16")
    assert args == _args()
    for name in ("tensor_parallel_size", "max_num_seqs", "disable_log_requests", "compilation_config", "block_size"):
        assert name in caplog.text


def test_pooler_config_and_its_old_name():
    assert _args("--pooler-config", '{"pooling_type": "MEAN"}').pooler_overrides.pooling_type == "mean"
    assert _args("--override-pooler-config", '{"normalize": false}').pooler_overrides.use_activation is False


def test_llm_keyword_arguments_map_as_the_command_line_does(caplog):
    """vLLM's ``LLM(model, **kwargs)`` (multiscore.LLM): the same names, in Python."""
    from dataclasses import dataclass

    from multiscore.entrypoints.vllm_args import translate_llm_kwargs

    @dataclass
    class PoolerConfig:  # vLLM's, as a user builds it
        pooling_type: str = "MEAN"
        dimensions: int = None

    with caplog.at_level(logging.WARNING, logger="multiscore.entrypoints.vllm_args"):
        out = translate_llm_kwargs(dict(
            max_model_len=512, tokenizer="tok", hf_overrides={"num_labels": 1}, pooler_config=PoolerConfig(),
            enforce_eager=True, enable_prefix_caching=False, runner="pooling", convert="embed", data_parallel_size=2,
            max_num_batched_tokens=4096, tensor_parallel_size=1, gpu_memory_utilization=0.75, attention_config=None,
            seed=0, dtype="half",
        ))
    assert out == dict(context_length=512, tokenizer_path="tok", json_model_override_args='{"num_labels": 1}',
                       pooler_config={"pooling_type": "MEAN"}, compile="off", disable_radix_cache=True, runner="pooling",
                       convert="embed", dp_size=2, max_prefill_tokens=4096, seed=0, dtype="half")
    assert "attention_config, gpu_memory_utilization, tensor_parallel_size" in caplog.text
    assert translate_llm_kwargs({"task": "score"}) == {"runner": "pooling", "convert": "classify"}
    assert translate_llm_kwargs({"enforce_eager": False, "enable_prefix_caching": None}) == {}
    for bad, message in [({"runner": "generate"}, "does not generate text"), ({"tensor_parallel_size": 2}, "only 1"),
                         ({"hf_overrides": lambda c: c}, "hf_overrides must be a dict")]:
        with pytest.raises(ValueError, match=message):
            translate_llm_kwargs(bad)


@pytest.mark.parametrize("overrides, served", [
    (None, "Qwen3Model"),  # vLLM's --runner pooling: a causal checkpoint becomes an embedding model
    ({"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"]},
     "Qwen3ForSequenceClassification"),  # already a pooling model: as it is
])
def test_runner_pooling_serves_a_causal_checkpoint_as_vllm_does(tiny_model, overrides, served):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.server_args import ServerArgs

    path = str(tiny_model("qwen3", "causal"))
    extra = {} if overrides is None else {"json_model_override_args": json.dumps(overrides)}
    assert ModelConfig.from_server_args(ServerArgs(model_path=path, runner="pooling", **extra)).architecture == served
    assert ModelConfig.from_server_args(ServerArgs(model_path=path)).architecture == "Qwen3ForCausalLM"
    with pytest.raises(ValueError, match="does not generate text"):
        ServerArgs(model_path=path, runner="generate")
