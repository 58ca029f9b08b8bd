"""LogManager: every partition log under the broker's ``log.dirs`` (Kafka 2.8's LogManager).

Loads and recovers logs at start, creates logs in the least-loaded dir, deletes topics'
logs (rename to ``…-delete``, remove later), writes the per-dir checkpoint files
(recovery points, high watermarks, log start offsets), runs retention, flushes, and marks a
clean shutdown with ``.kafka_cleanshutdown``. Also reads and writes ``meta.properties``,
owns the :class:`~kafkalite.log.index_cache.IndexCache` its logs share for the indexes of
inactive segments, and owns the log cleaner (:meth:`LogManager.start_cleaner`), whose
threads it stops first on shutdown. Synchronous; the broker runs ``load``, ``flush_logs``,
``cleanup_logs`` and ``shutdown`` in its thread pool.
"""

import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from kafkalite.log.checkpoint import CorruptCheckpointError, read_offset_checkpoint, write_offset_checkpoint
from kafkalite.log.cleaner import CleanerConfig, LogCleaner
from kafkalite.log.index_cache import IndexCache
from kafkalite.log.log import Log, parse_topic_partition
from kafkalite.log.partition_metadata import PartitionMetadataError, read_topic_id, write_topic_id
from kafkalite.protocol.errors import KafkaStorageError

__all__ = [
    "CLEAN_SHUTDOWN_FILE", "LOG_START_OFFSET_CHECKPOINT", "META_PROPERTIES", "RECOVERY_POINT_CHECKPOINT",
    "REPLICATION_OFFSET_CHECKPOINT", "InconsistentBrokerMetadataError", "LogManager",
]

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
META_PROPERTIES = "meta.properties"
_DELETE_SUFFIX = "-delete"
_FUTURE_SUFFIX = "-future"
# fsyncs of different files overlap in the device and the journal; the GIL is released meanwhile
_FLUSH_THREADS = 8


class InconsistentBrokerMetadataError(Exception):
    """A log dir's ``meta.properties`` disagrees with the broker id or cluster id given."""


class LogManager:
    """All logs of one broker.

    :param log_dirs: the ``log.dirs`` paths.
    :param default_config: the :class:`LogConfig` for logs created without their own.
    :param time_ms: a callable returning the current time in milliseconds.
    :param index_cache: the :class:`IndexCache` shared by the logs (default bounds when None).
    """

    def __init__(self, log_dirs, default_config, time_ms, index_cache=None):
        self.log_dirs = [os.path.abspath(path) for path in log_dirs]
        self.default_config = default_config
        self.time_ms = time_ms
        self.index_cache = index_cache if index_cache is not None else IndexCache()
        self.logs = {}  # (topic, partition) -> Log
        self._log_dir_of = {}  # (topic, partition) -> log dir
        self._logs_in_dir = dict.fromkeys(self.log_dirs, 0)
        self._deleted_logs = []  # (due_ms, Log or None, path)
        self.skipped_dirs = []  # directory names that are not <topic>-<partition>
        self.had_clean_shutdown = {}
        self.cleaner = None

    # -- loading -------------------------------------------------------------------------

    def load(self, configs=None):
        """Open (and where needed recover) every log in every dir.

        :param configs: optional ``{topic: LogConfig}`` for topics with overrides.
        """
        configs = configs or {}
        for log_dir in self.log_dirs:
            os.makedirs(log_dir, exist_ok=True)
            marker = os.path.join(log_dir, CLEAN_SHUTDOWN_FILE)
            clean = os.path.exists(marker)
            self.had_clean_shutdown[log_dir] = clean
            recovery_points = self._read_checkpoint(log_dir, RECOVERY_POINT_CHECKPOINT)
            start_offsets = self._read_checkpoint(log_dir, LOG_START_OFFSET_CHECKPOINT)
            high_watermarks = self._read_checkpoint(log_dir, REPLICATION_OFFSET_CHECKPOINT)
            with os.scandir(log_dir) as entries:
                directories = sorted(entry.name for entry in entries if entry.is_dir())
            for name in directories:
                path = os.path.join(log_dir, name)
                if name.endswith(_DELETE_SUFFIX):
                    self._deleted_logs.append((self.time_ms(), None, path))
                    continue
                if name.endswith(_FUTURE_SUFFIX):
                    self.skipped_dirs.append(path)
                    continue
                try:
                    key = parse_topic_partition(name)
                except ValueError:
                    self.skipped_dirs.append(path)
                    continue
                log = Log(path, configs.get(key[0], self.default_config), self.time_ms,
                          recovery_point=recovery_points.get(key, 0), log_start_offset=start_offsets.get(key),
                          had_clean_shutdown=clean, index_cache=self.index_cache, create=False)
                if key in high_watermarks:
                    log.update_high_watermark(high_watermarks[key])
                self._register(key, log, log_dir)
            if clean:
                os.unlink(marker)

    @staticmethod
    def _read_checkpoint(log_dir, name):
        try:
            return read_offset_checkpoint(os.path.join(log_dir, name))
        except CorruptCheckpointError:
            # Kafka treats a corrupt checkpoint as absent: every log recovers from offset 0.
            return {}

    # -- compaction --------------------------------------------------------------------------

    def start_cleaner(self, num_threads=1, dedupe_buffer_size=128 * 1024 * 1024, backoff_ms=15000):
        """Start the log cleaner's threads (``log.cleaner.enable``); call after :meth:`load`.

        :returns: the :class:`~kafkalite.log.cleaner.LogCleaner`.
        """
        self.cleaner = LogCleaner(self, CleanerConfig(num_threads, dedupe_buffer_size, backoff_ms), self.time_ms)
        self.cleaner.startup()
        return self.cleaner

    # -- logs ------------------------------------------------------------------------------

    def get_log(self, topic, partition):
        """The :class:`Log` of ``topic``-``partition``, or None."""
        return self.logs.get((topic, partition))

    def get_or_create_log(self, topic, partition, config=None):
        """The existing log, or a new one in the dir holding the fewest logs.

        An existing log takes ``config`` when one is given: logs loaded at start-up have the
        broker defaults until their topic's overrides are known (compaction, retention).

        :raises KafkaStorageError: the log could not be created or opened (e.g. EMFILE); its
            message names the directory and the OS error. Nothing is left registered or
            open, and a directory created by this call is removed again.
        """
        key = (topic, partition)
        log = self.logs.get(key)
        if log is not None:
            if config is not None and config != log.config:
                log.update_config(config)
            return log
        log_dir = min(self.log_dirs, key=lambda path: self._logs_in_dir[path])
        path = os.path.join(log_dir, f"{topic}-{partition}")
        try:
            try:
                os.mkdir(path)
                new = True
            except FileExistsError:
                new = False
            try:
                log = Log(path, config or self.default_config, self.time_ms, index_cache=self.index_cache,
                          create=False, new=new)
            except OSError:
                if new:
                    _remove_new_directory(path)
                raise
        except OSError as error:
            raise KafkaStorageError(f"cannot open the log in {path}: {error}") from error
        self._register(key, log, log_dir)
        return log

    def get_or_create_topic_log(self, topic, partition, topic_id, config=None):
        """:meth:`get_or_create_log` for the topic whose id is ``topic_id`` (base64; None: not known).

        A log left by an earlier topic of that name (another id in its ``partition.metadata``)
        is deleted first, so a topic created again always starts empty; the id is recorded.

        :returns: ``(log, replaced)``, ``replaced`` True when an earlier topic's log was deleted.
        :raises KafkaStorageError: as :meth:`get_or_create_log`.
        """
        log = self.get_or_create_log(topic, partition, config)
        if topic_id is None:
            return log, False
        try:
            recorded = read_topic_id(log.directory)
        except PartitionMetadataError:
            recorded = None  # torn by a crash: written again below
        except OSError:
            return log, False  # e.g. EMFILE: the log serves; the next start-up's LeaderAndIsr checks it
        replaced = recorded is not None and recorded != topic_id
        if replaced:
            self.delete_log(topic, partition)
            log = self.get_or_create_log(topic, partition, config)
        if recorded != topic_id:
            try:
                write_topic_id(log.directory, topic_id)
            except OSError:
                pass  # e.g. EMFILE: the log serves without it; the next start-up's LeaderAndIsr writes it
        return log, replaced

    def _register(self, key, log, log_dir):
        self.logs[key] = log
        self._log_dir_of[key] = log_dir
        self._logs_in_dir[log_dir] += 1

    def all_logs(self):
        """Every open log, as a list."""
        return list(self.logs.values())

    def log_dir_of(self, topic, partition):
        return self._log_dir_of.get((topic, partition))

    def delete_log(self, topic, partition):
        """Rename the log's dir to ``<topic>-<partition>.<32 hex>-delete``; removed by ``cleanup_logs``.

        Files stay open until then so that in-flight fetches can finish.

        :returns: True when a log existed.
        """
        key = (topic, partition)
        log = self.logs.pop(key, None)
        log_dir = self._log_dir_of.pop(key, None)
        if log is None:
            return False
        self._logs_in_dir[log_dir] -= 1
        with log.lock:
            log.cleaner_generation += 1  # a cleaning in progress must not swap into a deleted log
            log.closed = True
        target = f"{log.directory}.{uuid.uuid4().hex}{_DELETE_SUFFIX}"
        log.rename_dir(target)
        self._deleted_logs.append((self.time_ms() + log.config.file_delete_delay_ms, log, target))
        return True

    # -- periodic work ------------------------------------------------------------------------

    def cleanup_logs(self):
        """Retention over every log, then removal of expired ``.deleted`` files and deleted dirs.

        :returns: the number of segments deleted by retention.
        :raises KafkaStorageError: after going through every log, when one failed (e.g. EMFILE).
        """
        deleted = 0
        failed = []
        for log in self.all_logs():
            try:
                deleted += log.delete_retention_segments()
                log.delete_expired_files()
            except (OSError, KafkaStorageError) as error:
                failed.append((log, error))
        now = self.time_ms()
        remaining = []
        for due, log, path in self._deleted_logs:
            if due <= now:
                if log is not None:
                    log.delete()
                shutil.rmtree(path, ignore_errors=True)
            else:
                remaining.append((due, log, path))
        self._deleted_logs = remaining
        if failed:
            log, error = failed[0]
            raise KafkaStorageError(f"retention failed for {len(failed)} logs, first {log.topic}-{log.partition}: "
                                    f"{error}") from error
        return deleted

    def flush_logs(self, force=False):
        """Flush logs whose ``flush.messages`` or ``flush.ms`` is due (every log when ``force``).

        A log that fails keeps its recovery point; the others are flushed all the same.

        :raises KafkaStorageError: after trying every log, when any failed (naming the first).
        """
        now = self.time_ms()
        due = [log for log in self.all_logs() if force or log.unflushed_messages >= log.config.flush_messages or
               now - log.last_flush_ms >= log.config.flush_ms]
        self._flush(due)

    @staticmethod
    def _flush(logs):
        """Flush ``logs``, several at a time; raise after trying them all."""
        def flush(log):
            try:
                log.flush()
            except (OSError, KafkaStorageError) as error:
                return log, error
            return None
        if len(logs) > 1:
            with ThreadPoolExecutor(min(_FLUSH_THREADS, len(logs)), thread_name_prefix="log-flush") as pool:
                outcomes = list(pool.map(flush, logs))
        else:
            outcomes = [flush(log) for log in logs]
        failed = [outcome for outcome in outcomes if outcome is not None]
        if failed:
            log, error = failed[0]
            raise KafkaStorageError(f"flush failed for {len(failed)} logs, first {log.topic}-{log.partition}: "
                                    f"{error}") from error

    def _checkpoint(self, name, value_of, include=lambda log: True):
        for log_dir in self.log_dirs:
            offsets = {key: value_of(log) for key, log in self.logs.items()
                       if self._log_dir_of[key] == log_dir and include(log)}
            write_offset_checkpoint(os.path.join(log_dir, name), offsets)

    def checkpoint_recovery_points(self):
        """Write ``recovery-point-offset-checkpoint`` in every dir."""
        self._checkpoint(RECOVERY_POINT_CHECKPOINT, lambda log: log.recovery_point)

    def checkpoint_high_watermarks(self):
        """Write ``replication-offset-checkpoint`` (each log's ``high_watermark``) in every dir."""
        self._checkpoint(REPLICATION_OFFSET_CHECKPOINT, lambda log: log.high_watermark)

    def checkpoint_log_start_offsets(self):
        """Write ``log-start-offset-checkpoint`` for logs whose start is above their first segment."""
        self._checkpoint(LOG_START_OFFSET_CHECKPOINT, lambda log: log.log_start_offset,
                         lambda log: log.log_start_offset > log.segments[0].base_offset)

    def shutdown(self):
        """Stop the cleaner; flush everything, write all checkpoints, close the logs, mark a clean shutdown."""
        if self.cleaner is not None:
            self.cleaner.shutdown()
        self._flush(self.all_logs())
        self.checkpoint_recovery_points()
        self.checkpoint_high_watermarks()
        self.checkpoint_log_start_offsets()
        for log in self.all_logs():
            log.close()
        for _due, log, _path in self._deleted_logs:
            if log is not None:
                log.close()
        for log_dir in self.log_dirs:
            with open(os.path.join(log_dir, CLEAN_SHUTDOWN_FILE), "w"):
                pass

    # -- meta.properties --------------------------------------------------------------------------

    def read_meta_properties(self):
        """``{"version", "broker.id", "cluster.id"}`` shared by the dirs that have the file, or None.

        :raises InconsistentBrokerMetadataError: two dirs disagree.
        """
        found = None
        for log_dir in self.log_dirs:
            properties = _read_properties(os.path.join(log_dir, META_PROPERTIES))
            if properties is None:
                continue
            if found is not None and (found.get("broker.id"), found.get("cluster.id")) != \
                    (properties.get("broker.id"), properties.get("cluster.id")):
                raise InconsistentBrokerMetadataError(
                    f"BrokerMetadata is not consistent across log.dirs: {found} vs {properties} in {log_dir}")
            found = properties
        return found

    def write_meta_properties(self, broker_id, cluster_id):
        """Write v0 ``meta.properties`` where missing, after checking the existing ones.

        :raises InconsistentBrokerMetadataError: a dir holds a different broker.id or cluster.id.
        """
        for log_dir in self.log_dirs:
            os.makedirs(log_dir, exist_ok=True)
            path = os.path.join(log_dir, META_PROPERTIES)
            existing = _read_properties(path)
            if existing is not None:
                if existing.get("broker.id") != str(broker_id):
                    raise InconsistentBrokerMetadataError(
                        f"Stored broker.id {existing.get('broker.id')} in {path} doesn't match the configured "
                        f"broker.id {broker_id}")
                if existing.get("cluster.id") != str(cluster_id):
                    raise InconsistentBrokerMetadataError(
                        f"The Cluster ID {cluster_id} doesn't match stored clusterId {existing.get('cluster.id')} "
                        f"in {path}")
                continue
            stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
            text = (f"#\n#{stamp}\nversion=0\nbroker.id={broker_id}\ncluster.id={cluster_id}\n")
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)


def _remove_new_directory(path):
    """Remove a log directory this broker just created; ``rmdir`` first, as it needs no descriptor (EMFILE)."""
    try:
        os.rmdir(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _read_properties(path):
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    properties = {}
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, _sep, value = line.partition("=")
        properties[key.strip()] = value.strip()
    return properties
