"""The ground-truth ledger: what really happened, per meter per interval."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from metersim.config.base import Model, no_nul


class TruthConfig(Model):
    """The ground-truth ledger: what really happened, per meter per interval."""

    path: str = Field(description="file to write; .csv or .parquet")
    format: Literal["csv", "parquet"] | None = Field(None, description="default: from the file suffix")
    weather_path: str | None = Field(None, description="also write hourly weather per region here (CSV)")

    _paths = field_validator("path", "weather_path")(no_nul)

    @property
    def resolved_format(self) -> Literal["csv", "parquet"]:
        """The file format: ``format``, else from the suffix of ``path``."""
        if self.format is not None:
            return self.format
        return "parquet" if self.path.endswith(".parquet") else "csv"
