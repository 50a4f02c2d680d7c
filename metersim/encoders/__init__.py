"""Encoders: the only stage that makes bytes and topics from the numeric batches."""

from metersim.encoders.base import ENCODERS, Encoder, encoder_for

__all__ = ["ENCODERS", "Encoder", "encoder_for"]
