"""Fetch v0–v3 answers: the read's v2 batches down-converted for old consumers.

Kafka 2.8's ``KafkaApis.maybeConvertFetchedData`` for fetchers that cannot read
message format v2: a partition of a topic whose ``compression.type`` is zstd answers
UNSUPPORTED_COMPRESSION_TYPE, one whose ``message.downconversion.enable`` is false
answers UNSUPPORTED_VERSION, a storage error becomes NOT_LEADER_OR_FOLLOWER (old
clients would not retry KAFKA_STORAGE_ERROR: ``maybeDownConvertStorageError``), and
the records themselves go through :func:`kafkalite.protocol.down_conversion.down_convert`.

The log's bytes are copied on the reactor thread (a bounded read, as the non-sendfile
path does) and converted in the broker's thread pool, so a big old fetch does not stall
every other connection. The conversion keeps the request's limits on the converted
bytes: ``partition_max_bytes`` per partition and (v3) ``max_bytes`` for the response,
whole messages only, the first message always.
"""

import dataclasses

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite.protocol import errors
from kafkalite.protocol.down_conversion import ConvertedRecords, down_convert, magic_for_fetch_version
from kafkalite.replica.fetch_session import FetchAnswer

__all__ = ["OLDEST_UNCONVERTED_FETCH_VERSION", "OldFetchConverter"]

#: Fetch versions below this read message formats v0/v1 and get converted records.
OLDEST_UNCONVERTED_FETCH_VERSION = 4


class OldFetchConverter:
    """Rewrites a :class:`FetchAnswer` for a Fetch v0–v3.

    :param replica_manager: gives each partition's log config (``partitions[(topic, p)].log.config``).
    :param run_blocking: ``(fn, *args) -> Deferred`` running ``fn`` off the reactor thread (the broker's
        ``in_pool``); None runs it inline (unit tests).
    """

    log = Logger()

    def __init__(self, replica_manager, run_blocking=None):
        self.replica_manager = replica_manager
        self.run_blocking = run_blocking

    def convert(self, answer, version, max_bytes):
        """A Deferred firing with ``answer`` whose records are in the format Fetch ``version`` reads."""
        magic = magic_for_fetch_version(version)
        entries = []
        jobs = []
        for request, result in answer.entries:
            result = dataclasses.replace(result)
            entries.append((request, result))
            if result.error_code == errors.KafkaStorageError.code:
                result.error_code = errors.NotLeaderOrFollowerError.code
            region = result.records
            result.records = None
            if region is None or result.error_code:
                continue
            code = self._refusal(request.topic, request.partition)
            if code:
                result.error_code = code
                continue
            try:
                data = region.read() if hasattr(region, "read") else bytes(region)
            except OSError as error:
                self.log.warn("reading {topic}-{partition} to down-convert failed: {error}",
                              topic=request.topic, partition=request.partition, error=error)
                result.error_code = errors.NotLeaderOrFollowerError.code
                continue
            jobs.append((result, data, request.fetch_offset, request.max_bytes))
        converted = FetchAnswer(answer.error_code, answer.session_id, entries)
        if not jobs:
            return defer.succeed(converted)
        work = [(data, fetch_offset, partition_max_bytes) for _, data, fetch_offset, partition_max_bytes in jobs]
        if self.run_blocking is None:
            d = defer.maybeDeferred(convert_partitions, work, magic, max_bytes)
        else:
            d = self.run_blocking(convert_partitions, work, magic, max_bytes)

        def fill(outcomes):
            for (result, *_), outcome in zip(jobs, outcomes, strict=True):
                result.error_code = outcome.error_code
                result.records = outcome.records
            return converted
        return d.addCallback(fill)

    def _refusal(self, topic, partition):
        """The error a partition answers an old fetcher whatever its records, or 0."""
        hosted = self.replica_manager.partitions.get((topic, partition))
        config = getattr(getattr(hosted, "log", None), "config", None)
        if config is None:
            return 0
        if config.compression_type == "zstd":
            return errors.UnsupportedCompressionTypeError.code
        if not config.message_downconversion_enable:
            return errors.UnsupportedVersionError.code
        return 0


def convert_partitions(work, magic, max_bytes):
    """Down-convert each ``(data, fetch_offset, partition_max_bytes)`` within the response's ``max_bytes``.

    The first partition with records gets at least one message; later ones only what
    still fits (Kafka's KIP-74 rule, applied to the converted bytes).
    :returns: a :class:`ConvertedRecords` per entry of ``work``.
    """
    remaining = max_bytes
    delivered = False
    outcomes = []
    for data, fetch_offset, partition_max_bytes in work:
        limit = min(partition_max_bytes, remaining)
        if delivered and limit <= 0:
            outcomes.append(ConvertedRecords(b""))
            continue
        try:
            outcome = down_convert(data, magic, fetch_offset, max(limit, 0), min_one_message=not delivered)
        except errors.KafkaError as error:
            outcome = ConvertedRecords(b"", error.code)
        if outcome.records:
            delivered = True
            remaining -= len(outcome.records)
        outcomes.append(outcome)
    return outcomes
