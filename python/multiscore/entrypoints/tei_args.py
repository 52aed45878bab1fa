"""text-embeddings-inference's router flags (``text-embeddings-router`` and its Docker images), so a
TEI launch command runs here: ``multiscore serve --model-id BAAI/bge-base-en-v1.5 --port 8080
--pooling cls --auto-truncate --max-client-batch-size 64``.

- Mapped onto ours: ``--model-id``, ``--hostname``, ``-p``, ``--max-concurrent-requests``,
  ``--max-batch-tokens``, ``--max-client-batch-size``, ``--payload-limit``, ``--device-id``;
  ``--pooling`` (cls, mean, last-token) is ``--pooler-config``'s pooling type; ``--auto-truncate``,
  ``--default-prompt-name`` / ``--default-prompt`` and ``--revision`` are ServerArgs of their own;
  ``--hf-token`` and ``--huggingface-hub-cache`` set what huggingface_hub reads to download.
- Accepted with no effect, named in one logged note: tokenizer workers, batch request caps, log
  format, OpenTelemetry, the Prometheus port (/metrics is on the server's own port), the gRPC socket,
  CORS origins.
- Refused: ``--pooling splade`` on a model that is not a masked LM (SPLADE needs its head) is caught at
  start-up by the model's config; ``--dense-path`` (Dense modules are read from modules.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from multiscore.entrypoints.ignored_flags import add_ignored_flags, given_flags, note_ignored
from multiscore.entrypoints.infinity_args import OnceOnly

logger = logging.getLogger(__name__)

NO_EFFECT: dict[str, object] = {
    "tokenization_workers": int,
    "max_batch_requests": int,
    "json_output": "flag",
    "disable_spans": "flag",
    "otlp_endpoint": str,
    "otlp_service_name": str,
    "prometheus_port": int,
    "uds_path": str,
}
_POOLING = {"cls": "CLS", "mean": "MEAN", "last-token": "LAST", "splade": None}


def add_cli_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TEI flags (text-embeddings-router's names)")
    suppress = argparse.SUPPRESS
    group.add_argument("--model-id", dest="model_path", default=suppress, action=OnceOnly,
                       help="TEI's and Infinity's name for --model-path (once)")
    group.add_argument("--hostname", dest="host", default=suppress, help="TEI's name for --host")
    group.add_argument("-p", dest="port", type=int, default=suppress, help="--port")
    group.add_argument("--max-concurrent-requests", dest="max_queued_requests", type=int, default=suppress,
                       help="TEI's name for --max-queued-requests")
    group.add_argument("--max-batch-tokens", dest="max_prefill_tokens", type=int, default=suppress,
                       help="TEI's name for --max-prefill-tokens")
    group.add_argument("--max-client-batch-size", dest="max_items_per_request", type=int, default=suppress,
                       help="TEI's name for --max-items-per-request")
    group.add_argument("--payload-limit", dest="max_request_body_bytes", type=int, default=suppress,
                       help="TEI's name for --max-request-body-bytes")
    group.add_argument("--device-id", dest="base_gpu_id", type=int, default=suppress, help="TEI's name for --base-gpu-id")
    group.add_argument("--pooling", dest="tei_pooling", choices=sorted(_POOLING), default=None,
                       help="an embedding model's pooling, over its sentence-transformers files")
    group.add_argument("--hf-token", "--hf-api-token", dest="tei_hf_token", default=None, help="for gated hub models")
    group.add_argument("--huggingface-hub-cache", dest="tei_hub_cache", default=None, help="where hub downloads go")
    group.add_argument("--dense-path", dest="tei_dense_path", default=None, help=suppress)
    group.add_argument("--cors-allow-origin", dest="tei_cors_allow_origin", nargs="*", default=None, help=suppress)
    add_ignored_flags(group, NO_EFFECT, "tei_")


def apply_cli_args(ns: argparse.Namespace) -> None:
    """Fold the TEI flags a command line gave into ours (in ``ns``); log the ignored ones."""
    if ns.tei_dense_path is not None:
        raise ValueError("--dense-path: multiscore reads a model's Dense modules from its modules.json")
    if ns.tei_pooling is not None:
        pooling = _POOLING[ns.tei_pooling]
        if pooling is not None:  # splade: a masked LM is served as SPLADE already (its files say how it pools)
            config = json.loads(ns.pooler_config) if ns.pooler_config else {}
            if "pooling_type" in config and config["pooling_type"].upper() != pooling:
                raise ValueError(f"--pooling {ns.tei_pooling} and --pooler-config's pooling_type disagree")
            ns.pooler_config = json.dumps({**config, "pooling_type": pooling})
    if ns.tei_hf_token is not None:
        os.environ["HF_TOKEN"] = ns.tei_hf_token
    if ns.tei_hub_cache is not None:
        os.environ["HF_HUB_CACHE"] = ns.tei_hub_cache
    given = given_flags(ns, NO_EFFECT, "tei_")
    if ns.tei_cors_allow_origin is not None:
        given.append("cors_allow_origin")
    note_ignored(logger, "TEI", given)
