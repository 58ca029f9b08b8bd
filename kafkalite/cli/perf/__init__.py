"""``kafkalite-perf``: cluster throughput next to this machine's own raw limits, and the scale benchmark.

Owns the benchmark tool behind ``make bench`` and ``make bench-scale`` (DESIGN.md §11).
In throughput mode one run measures

- the raw limits: a loopback TCP stream written into a page-cache file (produce's
  ceiling) and a page-cache file sent to a socket with ``os.sendfile`` (consume's
  ceiling) — ``raw``;
- the reference kcat workloads (and optionally confluent-kafka's) on fresh
  single-partition topics — ``workloads``;
- with ``--replicated``: RF=3 ``acks=all`` throughput and latency, and how long a
  partition is unavailable after ``kill -9`` or a clean shutdown of its leader —
  ``replicated``;

and prints one line per workload (``report``): records/s, MB/s, the ratio to the
matching raw limit and to the JVM broker's rates. With ``--scale`` it instead creates
10,000 partitions on a 3-broker cluster of its own and measures creation, controller
failover, rejoin and a clean restart against issue 7's targets — ``scale``, judged and
printed by ``scale_report``, with every broker's Metadata read by ``metadata`` and
``/controller`` by ``zkview``. ``main`` is the command line; clusters of its own come
from :mod:`kafkalite.local`, so the tool needs nothing outside the package. Speed is
reported, never asserted.
"""

__all__ = ["main", "metadata", "raw", "replicated", "report", "scale", "scale_report", "workloads", "zkview"]
