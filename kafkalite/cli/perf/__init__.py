"""``kafkalite-perf``: cluster throughput next to this machine's own raw limits.

Owns the benchmark tool behind ``make bench`` (DESIGN.md §11). One run measures

- the raw limits: a loopback TCP stream written into a page-cache file (produce's
  ceiling) and a page-cache file sent to a socket with ``os.sendfile`` (consume's
  ceiling) — ``raw``;
- the reference kcat workloads (and optionally confluent-kafka's) on fresh
  single-partition topics — ``workloads``;
- with ``--replicated``: RF=3 ``acks=all`` throughput and latency, and how long a
  partition is unavailable after ``kill -9`` or a clean shutdown of its leader —
  ``replicated``;

and prints one line per workload (``report``): records/s, MB/s, the ratio to the
matching raw limit and to the JVM broker's rates; ``metadata`` reads one broker's
Metadata with our own codec. ``main`` is the command line; clusters of its own come
from :mod:`kafkalite.local`, so the tool needs nothing outside the package. Speed is
reported, never asserted.
"""

__all__ = ["main", "metadata", "raw", "replicated", "report", "workloads"]
