"""Merging the reports of shards (``metersim report merge``, ``--workers``) into one.

Counters add, ``meters`` adds, ``wall_s`` and ``simulated_s`` are the largest, ``readings_per_s`` is
recomputed, the lateness quantiles are recomputed from the merged ``lateness_histogram`` (never
averaged), and the status is the worst (failed > interrupted > completed > pending). Outputs merge by
``index``, their position in the scenario's ``outputs`` (shards name their files and client ids apart,
so descriptions differ); a merged description keeps what the shards' have in common and puts ``*``
where they differ (``file out/x.shard-*-of-3.jsonl``). Reports of other scenarios or windows are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from metersim.engine import Lateness
from metersim.errors import ConfigError
from metersim.report import STATUSES, OutputReport, RunReport


def _added(counts: Sequence[dict[str, int]]) -> dict[str, int]:
    """Counts per key added, keys in order of first appearance."""
    total: dict[str, int] = {}
    for c in counts:
        for key, n in c.items():
            total[key] = total.get(key, 0) + n
    return total


def _added_deep(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Nested objects of counts (the ``commands`` summary) added key by key, at any depth."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                total[key] = _added_deep([total.get(key, {}), value])
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
            else:
                total.setdefault(key, value)
    return total


def common_description(descriptions: Sequence[str]) -> str:
    """What the descriptions have in common, ``*`` where they differ (whole numbers are never cut)."""
    first = descriptions[0]
    if all(d == first for d in descriptions):
        return first
    prefix = re.sub(r"\d+$", "", _common_start(descriptions))
    suffix = re.sub(r"^\d+", "", _common_start([d[len(prefix) :][::-1] for d in descriptions])[::-1])
    return f"{prefix}*{suffix}"


def _common_start(texts: Sequence[str]) -> str:
    """The longest string every text starts with (character by character: descriptions are not paths)."""
    shortest = min(texts, key=len)
    for i, char in enumerate(shortest):
        if any(t[i] != char for t in texts):
            return shortest[:i]
    return shortest


def _merged_outputs(reports: Sequence[RunReport], names: Sequence[str]) -> list[OutputReport]:
    by_index: list[dict[int, OutputReport]] = []
    for report, name in zip(reports, names):
        indexed = {i if o.index is None else o.index: o for i, o in enumerate(report.outputs)}
        if len(indexed) != len(report.outputs):
            raise ConfigError(f"{name}: two outputs have the same index")
        by_index.append(indexed)
        if indexed.keys() != by_index[0].keys():
            raise ConfigError(
                f"{name}: outputs {sorted(indexed)} are not those of {names[0]} ({sorted(by_index[0])}): "
                "another scenario"
            )
    merged = []
    for index in sorted(by_index[0]):
        parts = [outputs[index] for outputs in by_index]
        flights = [o.in_flight for o in parts if o.in_flight is not None]
        merged.append(
            OutputReport(
                output=common_description([o.output for o in parts]),
                accepted=sum(o.accepted for o in parts),
                acknowledged=sum(o.acknowledged for o in parts),
                errors=sum(o.errors for o in parts),
                in_flight=sum(flights) if flights else None,
                index=index,
            )
        )
    return merged


def _merged_lateness(reports: Sequence[RunReport], names: Sequence[str]) -> Lateness | None:
    histograms: list[Lateness] = []
    for report, name in zip(reports, names):
        if report.lateness_histogram is not None:
            try:
                histograms.append(Lateness.from_dict(report.lateness_histogram))
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        elif report.lateness is not None:
            raise ConfigError(f"{name}: has lateness quantiles but no lateness_histogram to merge them from")
    if not histograms:
        return None
    total = Lateness()
    for histogram in histograms:
        total.merge(histogram)
    return total


def merge_reports(reports: Sequence[RunReport], names: Sequence[str] | None = None) -> RunReport:
    """One report of the shards' ``reports`` (rules in the module docstring); ``names`` (their files) are
    for the errors. Raises :class:`~metersim.errors.ConfigError` for reports of different scenarios."""
    if not reports:
        raise ValueError("no reports to merge")
    names = list(names) if names is not None else [f"report {i + 1}" for i in range(len(reports))]
    first = reports[0]
    for report, name in zip(reports[1:], names[1:]):
        for what in ("scenario", "start", "end"):
            if getattr(report, what) != getattr(first, what):
                raise ConfigError(
                    f"{name}: {what} {getattr(report, what)!r} is not {getattr(first, what)!r} of {names[0]}: "
                    "reports of different scenarios or windows do not merge"
                )
    merged = RunReport(
        scenario=first.scenario,
        status=max((r.status for r in reports), key=STATUSES.index),
        meters=sum(r.meters for r in reports),
        start=first.start,
        end=first.end,
        readings_generated=sum(r.readings_generated for r in reports),
        readings_by_kind=_added([r.readings_by_kind for r in reports]),
        readings_published=sum(r.readings_published for r in reports),
        readings_encoded=_added([r.readings_encoded for r in reports]),
        readings_duplicated=sum(r.readings_duplicated for r in reports),
        events_published=sum(r.events_published for r in reports),
        labels=sum(r.labels for r in reports),
        wall_s=max(r.wall_s for r in reports),
        simulated_s=max(r.simulated_s for r in reports),
        outputs=_merged_outputs(reports, names),
    )
    merged._total_outputs()
    if merged.wall_s > 0:
        merged.readings_per_s = round(merged.readings_generated / merged.wall_s, 1)
    lateness = _merged_lateness(reports, names)
    if lateness is not None:
        merged.lateness, merged.lateness_histogram = lateness.summary_ms(), lateness.to_dict()
    messages = list(dict.fromkeys(r.error_message for r in reports if r.error_message))
    merged.error_message = "; ".join(messages) if messages else None
    commands = [r.commands for r in reports if r.commands is not None]
    merged.commands = _added_deep(commands) if commands else None
    return merged
