"""Field types shared by the event catalogue."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1, max_length=64)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
Cents = Annotated[int, Field(ge=0, description="Integer euro cents")]
PositiveCents = Annotated[int, Field(gt=0, description="Integer euro cents, more than zero")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class Part(BaseModel):
    """A nested part of an event payload: immutable, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
