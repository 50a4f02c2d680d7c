"""Event payload v1: one JSON object per meter event (documented in ``schemas/event-v1.json``).

Field order is part of the format (byte-identical output for a seed): ``meter_id, schema, group,
commodity, ts, code, event``. ``ts`` is when the meter logged the event, ISO 8601 in the meter's
local offset at that instant; ``code`` is the IDIS event number and ``event`` its name
(:data:`~metersim.records.EVENT_NAMES`). ``schema`` (``metersim/event/v1``; a reading says
``metersim/reading/v1``) tells an event from a reading where both share one stream (a file, stdout).

Topics: templates take the reading topics' fields (``{meter_id} {commodity} {group} {region}
{substation} {feeder} {transformer}``, with the same values) and ``{event}``, the event's name.
Events are sparse (a few per meter per day), so their topics are rendered per event rather than
cached for every meter of the set as :class:`~metersim.encoders.topics.TopicCache` does for readings.
"""

from __future__ import annotations

from typing import Any

import orjson

from metersim.encoders.json import iso_column
from metersim.encoders.topics import TopicCache
from metersim.records import EVENT_NAMES, EventBatch

SCHEMA_ID = "metersim/event/v1"
DEFAULT_EVENT_TOPIC = "metersim/{commodity}/{meter_id}/event"


class JsonEventEncoder:
    """``format: json``: event payload v1, one message per event."""

    format = "json"

    def __init__(self) -> None:
        self._topics = TopicCache()

    def encode(self, events: EventBatch) -> list[bytes]:
        meters = events.meters
        ids, group, commodity = meters.ids, meters.group, meters.commodity
        dumps = orjson.dumps
        columns = zip(events.meters_at.tolist(), iso_column(events.time_s, meters.timezone), events.code.tolist())
        out = []
        for at, ts, code in columns:
            event: dict[str, Any] = {
                "meter_id": ids[at],
                "schema": SCHEMA_ID,
                "group": group,
                "commodity": commodity,
                "ts": ts,
                "code": code,
                "event": EVENT_NAMES[code],
            }
            out.append(dumps(event))
        return out

    def topics(self, events: EventBatch, template: str) -> list[str]:
        """One topic per event, rendered from ``template`` (e.g. ``metersim/{meter_id}/event/{event}``)."""
        fields, fmt = self._topics.fields(events.meters), template.format
        names = [EVENT_NAMES[c] for c in events.code.tolist()]
        return [fmt(event=name, **fields[p]) for p, name in zip(events.meters_at.tolist(), names)]
