"""Encoders: the only stage that makes bytes and topics from the numeric batches."""

from metersim.encoders.base import ENCODERS, EVENT_ENCODERS, Encoder, EventEncoder, encoder_for, event_encoder_for
from metersim.encoders.events import DEFAULT_EVENT_TOPIC

__all__ = [
    "DEFAULT_EVENT_TOPIC",
    "ENCODERS",
    "EVENT_ENCODERS",
    "Encoder",
    "EventEncoder",
    "encoder_for",
    "event_encoder_for",
]
