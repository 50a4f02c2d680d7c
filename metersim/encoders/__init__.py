"""Encoders turn engine batches into message payloads."""
