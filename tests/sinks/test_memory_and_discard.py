from metersim.sinks.base import Outbox
from metersim.sinks.discard import DiscardSink
from metersim.sinks.memory import MemorySink


def test_discard_counts_without_encoding():
    def explode() -> list[bytes]:
        raise AssertionError("discard must not encode")

    with DiscardSink() as sink:
        sink.send(Outbox(5, explode, explode))
    assert sink.stats.accepted == sink.stats.acknowledged == 5


def test_memory_keeps_topics_and_payloads():
    with MemorySink() as sink:
        sink.send(Outbox.of(["a", "b"], [b"{}", b'{"x":1}']))
    assert sink.messages == [("a", b"{}"), ("b", b'{"x":1}')]
    assert sink.readings() == [{}, {"x": 1}]
