"""Pydantic request models of the HTTP API (the schema users and the OpenAPI document see)."""

from __future__ import annotations

from typing import Optional, Union

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr


class ScoreRequest(BaseModel):
    """``POST /v1/score`` (SGLang-compatible; DESIGN.md §3)."""

    model_config = ConfigDict(extra="ignore")

    query: Union[StrictStr, list[StrictInt]]
    items: Union[StrictStr, list[StrictStr], list[list[StrictInt]]]
    label_token_ids: Optional[list[StrictInt]] = None
    apply_softmax: StrictBool = False
    item_first: StrictBool = False
    model: str = "default"


def error_body(message: str, code: int, error_type: str) -> dict:
    return {"object": "error", "message": message, "type": error_type, "code": code}
