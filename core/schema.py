"""The base of every settings model: a misspelt key is an error, not a silently ignored setting."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    # extra="forbid": a misspelt key ("sezes") is an error, not a silently ignored setting. allow_inf_nan=False: a
    # price, budget or rate of .nan or .inf passes every comparison check and then spoils each sum and the JSON out
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# Options of a built-in scenario's build() (core/task/scenarios), checked against these when the scenario is built
Count = Annotated[int, Field(ge=1, le=10_000_000)]  # examples per class: at least one
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # numpy and scikit-learn take 32-bit seeds
