"""Reading the JSON files beside a checkpoint (config.json, modules.json, the sentence-transformers
and tokenizer configs): one reader for every config module."""

from __future__ import annotations

import json
import os


def read_json(path: str, missing=None):
    """The file's JSON; ``missing`` (e.g. ``{}``) when there is no such file, else it must exist."""
    if missing is not None and not os.path.exists(path):
        return missing
    with open(path, encoding="utf-8") as f:
        return json.load(f)
