"""The base of every settings model: a misspelt key is an error, not a silently ignored setting."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # extra="forbid": a misspelt key ("sezes") is an error, not a silently ignored setting
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
