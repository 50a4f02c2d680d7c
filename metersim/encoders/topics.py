"""Topic templates rendered per meter: ``{meter_id} {commodity} {group} {region} {substation} {feeder}
{transformer}``. One list per meter set and template is rendered once and reused every interval."""

from __future__ import annotations

from metersim.records import MeterSet, ReadingBatch

_NO_PLACE = {"region": "", "substation": "", "feeder": "", "transformer": ""}


class TopicCache:
    """Renders templates for the meters of a batch, caching each meter set's full list per template."""

    def __init__(self) -> None:
        # Keyed by identity; the value keeps the meter set alive so that its id is never reused.
        self._cache: dict[tuple[int, str], tuple[MeterSet, list[str]]] = {}

    def render(self, batch: ReadingBatch, template: str) -> list[str]:
        """One topic per row of ``batch``."""
        per_meter = self.for_meters(batch.meters, template)
        return [per_meter[p] for p in batch.meters_at.tolist()]

    def for_meters(self, meters: MeterSet, template: str) -> list[str]:
        """One topic per meter of ``meters``."""
        key = (id(meters), template)
        entry = self._cache.get(key)
        if entry is None:
            places = meters.places or [{**_NO_PLACE, "region": meters.region}] * meters.count
            fmt, commodity, group = template.format, meters.commodity, meters.group
            topics = [
                fmt(meter_id=m, commodity=commodity, group=group, **place) for m, place in zip(meters.ids, places)
            ]
            entry = self._cache[key] = (meters, topics)
        return entry[1]
