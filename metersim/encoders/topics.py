"""Topic templates rendered per meter: ``{meter_id} {commodity} {group} {region} {substation} {feeder}
{transformer} {concentrator} {manufacturer} {model} {firmware}``. One list per meter set and template is
rendered once and reused every interval. A field the meters lack renders empty (config validation
refuses a template that names a field some group lacks)."""

from __future__ import annotations

from metersim.records import MeterSet, ReadingBatch

_NO_PLACE = {"region": "", "substation": "", "feeder": "", "transformer": ""}
_NO_HARDWARE = {"manufacturer": "", "model": "", "firmware": ""}


class TopicCache:
    """Renders templates for the meters of a batch, caching each meter set's full list per template."""

    def __init__(self) -> None:
        # Keyed by identity; the value keeps the meter set alive so that its id is never reused.
        self._cache: dict[tuple[int, str], tuple[MeterSet, list[str]]] = {}
        self._fields: dict[int, tuple[MeterSet, list[dict[str, str]]]] = {}

    def render(self, batch: ReadingBatch, template: str) -> list[str]:
        """One topic per row of ``batch``."""
        per_meter = self.for_meters(batch.meters, template)
        return [per_meter[p] for p in batch.meters_at.tolist()]

    def for_meters(self, meters: MeterSet, template: str) -> list[str]:
        """One topic per meter of ``meters``."""
        key = (id(meters), template)
        entry = self._cache.get(key)
        if entry is None:
            fmt = template.format
            entry = self._cache[key] = (meters, [fmt(**fields) for fields in self.fields(meters)])
        return entry[1]

    def fields(self, meters: MeterSet) -> list[dict[str, str]]:
        """The topic fields of each meter of ``meters`` (all but an event's ``{event}``)."""
        entry = self._fields.get(id(meters))
        if entry is None:
            places = meters.places or [{**_NO_PLACE, "region": meters.region}] * meters.count
            concentrators = meters.concentrators or [""] * meters.count
            fixed = {**_NO_HARDWARE, **dict(meters.hardware), "commodity": meters.commodity, "group": meters.group}
            every = [
                {"meter_id": m, "concentrator": c, **place, **fixed}
                for m, place, c in zip(meters.ids, places, concentrators)
            ]
            entry = self._fields[id(meters)] = (meters, every)
        return entry[1]
