"""Topic templates: which fields they may use, and why one cannot be a topic."""

from __future__ import annotations

import re
from string import Formatter

from metersim.config.base import format_fields

TOPIC_FIELDS = (
    "meter_id", "commodity", "group", "region", "substation", "feeder", "transformer",
    "concentrator", "manufacturer", "model", "firmware",
)  # fmt: skip
EVENT_TOPIC_FIELDS = (*TOPIC_FIELDS, "event")
#: MQTT's limit on a topic and on a client id [bytes of UTF-8]
MQTT_MAX_BYTES = 65_535
_NUMBERS = re.compile(r"\d+")
_SAMPLE = "x"


def topic_template_problem(template: str, fields: tuple[str, ...] = TOPIC_FIELDS) -> str | None:
    """Why ``template`` cannot be a topic template over ``fields`` (None if it can), without their values."""
    if not template:
        return "must not be empty"
    try:
        items = list(Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    for _, field, spec, conversion in items:
        if field is None:
            continue
        if field == "" or field.isdigit():
            return "positional fields ({} or {0}) are not allowed; name a field, e.g. {meter_id}"
        if not field.isidentifier():
            return f"{{{field}}}: attribute or index access is not allowed; use the plain field name"
        if spec and "{" in spec:
            return f"{{{field}:{spec}}}: nested fields in a format spec are not allowed"
        if conversion:
            return f"{{{field}!{conversion}}}: conversions are not allowed"
        if any(int(n) > MQTT_MAX_BYTES for n in _NUMBERS.findall(spec or "")):
            return f"{{{field}:{spec}}}: pads or cuts to more than MQTT's limit of {MQTT_MAX_BYTES} bytes"
    unknown = sorted(format_fields(template) - set(fields))
    if unknown:
        return f"unknown field(s) {unknown}; allowed: {', '.join('{' + f + '}' for f in fields)}"
    try:
        template.format(**dict.fromkeys(fields, _SAMPLE))
    except (ValueError, TypeError) as exc:
        return f"has a bad format spec: {exc}"
    if "+" in template or "#" in template:
        return "a topic to publish to cannot contain + or # wildcards"
    if "\x00" in template:
        return "must not contain a NUL character"
    if len(template.format(**dict.fromkeys(fields, "")).encode()) > MQTT_MAX_BYTES:
        return f"is longer than MQTT's limit of {MQTT_MAX_BYTES} bytes"
    return None
