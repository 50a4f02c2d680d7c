"""Command topics: the subscription filter of a template and the fields a topic names."""

from __future__ import annotations

from string import Formatter
from typing import TypeGuard

RESPONSE_SUFFIX = "/response"


class CommandTopics:
    """A command topic template whose fields are whole levels, e.g. ``metersim/cmd/{concentrator}/{meter_id}``."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.levels: list[tuple[str, bool]] = []  # (literal text or field name, is a field)
        for level in template.split("/"):
            fields = [f for _, f, _, _ in Formatter().parse(level) if f is not None]
            self.levels.append((fields[0], True) if fields else (level.replace("{{", "{").replace("}}", "}"), False))

    @property
    def filter(self) -> str:
        """The MQTT subscription: one ``+`` per field."""
        return "/".join("+" if is_field else text for text, is_field in self.levels)

    def fields_of(self, topic: str) -> dict[str, str] | None:
        """The field values ``topic`` names, or None if it does not fit the template."""
        parts = topic.split("/")
        if len(parts) != len(self.levels):
            return None
        out: dict[str, str] = {}
        for part, (text, is_field) in zip(parts, self.levels):
            if is_field:
                out[text] = part
            elif part != text:
                return None
        return out


def publishable(topic: str | None) -> TypeGuard[str]:
    """Whether ``topic`` can be published to (an MQTT 5 Response Topic a request gave may not be)."""
    if not topic:
        return False
    return not any(c in topic for c in "+#\x00") and len(topic.encode()) <= 65_535


def response_topic(command_topic: str) -> str:
    """Where the answer to a command on ``command_topic`` goes (without an MQTT 5 Response Topic)."""
    return command_topic + RESPONSE_SUFFIX
