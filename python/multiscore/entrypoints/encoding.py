"""How vectors travel in an answer: OpenAI's ``float`` and ``base64``, and vLLM's ``bytes`` and
``bytes_only``, in the ``embed_dtype`` (float32, float16, bfloat16) and byte order asked for.

``bytes``: the body is every vector's bytes back to back, and a ``metadata`` header (JSON) says
where each one lies: ``{id, created, model, data: [{index, embed_dtype, endianness, start, end,
shape}], usage}``. ``bytes_only``: the same body, no header (the caller knows the shapes).
"""

from __future__ import annotations

import base64
import sys
from typing import Literal

import orjson
import torch
from fastapi.responses import Response

EncodingFormat = Literal["float", "base64", "bytes", "bytes_only"]
EmbedDtype = Literal["float32", "float16", "bfloat16"]
Endianness = Literal["native", "big", "little"]

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def vector_bytes(values, embed_dtype: str, endianness: str) -> tuple[bytes, list[int]]:
    """A vector (or a [tokens, C] matrix) -> its bytes in ``embed_dtype`` and byte order, and its shape."""
    tensor = torch.tensor(values, dtype=torch.float32).to(_TORCH_DTYPES[embed_dtype])
    raw = tensor.view(torch.int16 if tensor.element_size() == 2 else torch.int32).numpy()  # the bits, as ints
    if endianness != "native" and endianness != sys.byteorder:
        raw = raw.byteswap()
    return raw.tobytes(), list(tensor.shape)


def encode_vector(values, encoding_format: str, embed_dtype: str = "float32", endianness: str = "native"):
    """One ``embedding`` / ``data`` field of a JSON answer."""
    if encoding_format == "base64":
        return base64.b64encode(vector_bytes(values, embed_dtype, endianness)[0]).decode("ascii")
    return values


def binary_response(vectors: list, *, encoding_format: str, embed_dtype: str, endianness: str, envelope: dict) -> Response:
    """vLLM's ``bytes`` / ``bytes_only`` answer; ``envelope`` (id, created, model, usage) goes in the
    ``metadata`` header of a ``bytes`` answer."""
    chunks, items, start = [], [], 0
    for index, values in enumerate(vectors):
        raw, shape = vector_bytes(values, embed_dtype, endianness)
        chunks.append(raw)
        items.append({"index": index, "embed_dtype": embed_dtype, "endianness": endianness, "start": start,
                      "end": start + len(raw), "shape": shape})
        start += len(raw)
    headers = {}
    if encoding_format == "bytes":
        headers["metadata"] = orjson.dumps({**envelope, "data": items}).decode()
    return Response(b"".join(chunks), media_type="application/octet-stream", headers=headers)


def is_binary(encoding_format: str) -> bool:
    return encoding_format in ("bytes", "bytes_only")
