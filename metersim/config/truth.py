"""The ground-truth ledger: what really happened, per meter per interval."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from metersim.config.base import Model, no_nul


class TruthConfig(Model):
    """The ground-truth ledger: what really happened, per meter per interval."""

    path: str = Field(description="file to write; .csv or .parquet")
    format: Literal["csv", "parquet"] | None = Field(None, description="default: from the file suffix")
    weather_path: str | None = Field(None, description="also write hourly weather per region here (.csv or .parquet)")
    labels_path: str | None = Field(
        None, description="every injected fault, one row each; default: labels.csv (.parquet) beside `path`"
    )

    commands_path: str | None = Field(
        None,
        description="outputs with `commands`: every command received and its answer, one JSON line each (the "
        "log `--replay-commands` reads); default: commands.jsonl beside `path`",
    )

    _paths = field_validator("path", "weather_path", "labels_path", "commands_path")(no_nul)

    @property
    def resolved_commands_path(self) -> str:
        """``commands_path``, else ``commands.jsonl`` in the ledger's folder."""
        return self.commands_path or str(Path(self.path).with_name("commands.jsonl"))

    @property
    def resolved_labels_path(self) -> str:
        """``labels_path``, else ``labels.csv`` (``labels.parquet`` for a Parquet ledger) in the ledger's folder."""
        if self.labels_path is not None:
            return self.labels_path
        return str(Path(self.path).with_name(f"labels.{self.resolved_format}"))

    @property
    def resolved_format(self) -> Literal["csv", "parquet"]:
        """The file format: ``format``, else from the suffix of ``path``."""
        if self.format is not None:
            return self.format
        return "parquet" if self.path.endswith(".parquet") else "csv"
