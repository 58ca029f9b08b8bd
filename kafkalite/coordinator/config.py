"""The broker settings of the group coordinator, split as Kafka splits them.

:class:`GroupConfig` (Kafka's ``GroupConfig``) is what the membership protocol reads;
:class:`OffsetConfig` (Kafka's ``OffsetConfig``) is what the offset and group store
reads. Both are frozen and built from a :class:`kafkalite.config.BrokerConfig` (or any
object with the same attribute names) by ``from_broker_config``.
"""

from dataclasses import dataclass, fields

__all__ = ["GroupConfig", "OffsetConfig"]


class _FromBrokerConfig:
    @classmethod
    def from_broker_config(cls, config):
        """Take this class's fields from ``config``'s attributes of the same names."""
        return cls(**{field.name: getattr(config, field.name) for field in fields(cls)})


@dataclass(frozen=True)
class GroupConfig(_FromBrokerConfig):
    """Settings of :class:`~kafkalite.coordinator.group_coordinator.GroupCoordinator`."""

    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1800000
    group_initial_rebalance_delay_ms: int = 3000
    group_max_size: int = 2**31 - 1


@dataclass(frozen=True)
class OffsetConfig(_FromBrokerConfig):
    """Settings of :class:`~kafkalite.coordinator.group_metadata_manager.GroupMetadataManager`."""

    offsets_topic_num_partitions: int = 50
    offsets_retention_minutes: int = 10080
    offsets_retention_check_interval_ms: int = 600000
    offset_metadata_max_bytes: int = 4096

    @property
    def offsets_retention_ms(self):
        return self.offsets_retention_minutes * 60 * 1000
