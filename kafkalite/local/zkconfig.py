"""The zoo.cfg templates of a local ZooKeeper node (standalone, or one node of an ensemble).

Kept in the package, not as files beside ``zk/zkctl``, so a wheel install can start its
own ZooKeeper (``kafkalite-perf --start-cluster``). :func:`render_config` fills them in.
"""

from string import Template

__all__ = ["ENSEMBLE_TEMPLATE", "STANDALONE_TEMPLATE", "render_config"]

STANDALONE_TEMPLATE = Template("""\
# kafkalite: standalone ZooKeeper for development and tests (filled in by kafkalite.local.zkconfig).
# Fast ticks: sessions may be as short as 2 * tickTime; maxSessionTimeout is raised so
# Kafka's default zookeeper.session.timeout.ms (18000) is honoured, not clamped.
tickTime=$tick_time
initLimit=20
syncLimit=10
minSessionTimeout=$min_session_timeout
maxSessionTimeout=60000
dataDir=$data_dir
dataLogDir=$data_dir
clientPort=$client_port
clientPortAddress=$host
maxClientCnxns=0
# Four-letter words (ruok, srvr, mntr...) are how zkctl and the tests check health.
4lw.commands.whitelist=*
admin.enableServer=false
# Tests care about speed; a killed process keeps its page cache, so this only matters
# for a machine crash.
forceSync=$force_sync
preAllocSize=4096
snapCount=10000
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
""")

ENSEMBLE_TEMPLATE = Template("""\
# kafkalite: one node of a local 3-node ZooKeeper ensemble (filled in by kafkalite.local.zkconfig).
# Every node has its own copy with its own dataDir and clientPort; the server.N lines
# are the same everywhere.
tickTime=$tick_time
initLimit=20
syncLimit=10
minSessionTimeout=$min_session_timeout
maxSessionTimeout=60000
dataDir=$data_dir
dataLogDir=$data_dir
clientPort=$client_port
clientPortAddress=$host
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
forceSync=$force_sync
preAllocSize=4096
snapCount=10000
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
reconfigEnabled=false
quorumListenOnAllIPs=false
$servers
""")


def render_config(spec, node_id):
    """The text of ``node_id``'s zoo.cfg for a :class:`~kafkalite.local.zookeeper.ClusterSpec`."""
    node = spec.node(node_id)
    template = ENSEMBLE_TEMPLATE if spec.ensemble else STANDALONE_TEMPLATE
    servers = "\n".join(
        f"server.{n.node_id}={spec.host}:{n.quorum_port}:{n.election_port}" for n in spec.nodes
    ) if spec.ensemble else ""
    return template.substitute(
        tick_time=spec.tick_time_ms,
        min_session_timeout=2 * spec.tick_time_ms,
        data_dir=spec.data_dir(node_id),
        client_port=node.client_port,
        host=spec.host,
        force_sync="yes" if spec.force_sync else "no",
        servers=servers,
    )
