"""Produce v0–v2 in the request handler: each partition's message set up-converted before the append.

The conversion itself is ``protocol.message_set_conversion``'s; this module applies it to
a Produce request's ``(topic, partition, records)`` entries and turns a refused set into
that partition's :class:`~kafkalite.replica.manager.ProduceResult`, so a bad partition
appends nothing while the request's other partitions go on (as Kafka answers per partition).
"""

from twisted.internet import defer

from kafkalite.protocol import errors
from kafkalite.protocol.message_set_conversion import legacy_records_to_batch
from kafkalite.replica.manager import ProduceResult

__all__ = ["merge_refused", "upconvert_produce_entries"]


def upconvert_produce_entries(entries):
    """Convert each entry's message set to one v2 batch.

    :param entries: ``[(topic, partition, records)]`` of a Produce v0–v2 request.
    :returns: ``(converted entries, {(topic, partition): ProduceResult})``, the latter
        for the partitions whose set was refused (with Kafka's error code and the reason).
    """
    converted = []
    refused = {}
    for topic, partition, records in entries:
        if records is not None:
            try:
                records = legacy_records_to_batch(records)
            except errors.KafkaError as error:
                refused[(topic, partition)] = ProduceResult(error_code=error.code, error_message=error.message)
                continue
        converted.append((topic, partition, records))
    return converted, refused


def merge_refused(results, refused):
    """``append_records``'s results (a dict, or a Deferred firing with one) with the refused partitions added."""
    if not refused:
        return results
    if isinstance(results, defer.Deferred):
        return results.addCallback(lambda appended: {**appended, **refused})
    return {**results, **refused}
