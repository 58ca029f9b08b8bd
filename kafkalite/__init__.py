"""kafkalite: a Kafka-compatible, ZooKeeper-backed distributed commit log."""

__version__ = "0.1.0"
__all__ = ["__version__"]
