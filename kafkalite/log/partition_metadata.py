"""``partition.metadata``: the topic id a partition's directory belongs to (Kafka 2.8, KIP-516).

A log directory is named ``<topic>-<partition>`` only, so a topic deleted while one of its
brokers was down and then created again under the same name would find that broker's old
directory. Kafka 2.8 writes the topic id beside the segments::

    version: 0
    topic_id: <22 characters of base64>

and compares it with the id the controller sends. Reading and writing are synchronous; a
write is a temporary file renamed into place, not fsynced (a broker writes thousands at
topic creation): one lost in a crash reads as absent, or malformed, and is written again.
"""

import os

__all__ = ["PARTITION_METADATA_FILE", "PartitionMetadataError", "read_topic_id", "write_topic_id"]

PARTITION_METADATA_FILE = "partition.metadata"


class PartitionMetadataError(ValueError):
    """A ``partition.metadata`` file that does not say ``version: 0`` and a ``topic_id``."""


def read_topic_id(log_dir_path):
    """The topic id recorded in ``log_dir_path``, or None when the file does not exist.

    :raises PartitionMetadataError: the file is malformed.
    """
    path = os.path.join(log_dir_path, PARTITION_METADATA_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return None
    fields = {}
    for line in text.splitlines():
        if line.strip():
            name, sep, value = line.partition(":")
            if not sep:
                raise PartitionMetadataError(f"{path}: malformed line {line!r}")
            fields[name.strip()] = value.strip()
    if fields.get("version") != "0" or not fields.get("topic_id"):
        raise PartitionMetadataError(f"{path}: expected version 0 and a topic_id, got {fields}")
    return fields["topic_id"]


def write_topic_id(log_dir_path, topic_id):
    """Record ``topic_id`` in ``log_dir_path`` (replacing any earlier file)."""
    path = os.path.join(log_dir_path, PARTITION_METADATA_FILE)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(f"version: 0\ntopic_id: {topic_id}\n")
    os.replace(temporary, path)
