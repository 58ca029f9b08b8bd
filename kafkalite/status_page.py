"""The operator's status page: ``/`` (HTML) and ``/status.json`` on the metrics port.

Owns :class:`StatusSource` (gathers the status document of :mod:`kafkalite.status_model`
on the reactor thread), :func:`render_status_html` and the two Twisted resources that
:func:`kafkalite.metrics.metrics_site` mounts beside ``/metrics``. The page is plain
server-rendered HTML: inline CSS, no script, no external asset, every value from the
cluster (topic names, group and client ids...) escaped, and a ``<meta http-equiv=refresh>``
so an open page follows the cluster. ``/status.json`` is the same document as JSON.

Both are rendered asynchronously (the reassignments come from ZooKeeper, see
:mod:`kafkalite.status_reassignments`), but every read of broker state happens in a
callback on the reactor thread, as the ``/metrics`` collectors' do.
"""

import html
import json
import time

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from kafkalite.status_model import LIST_LIMIT, build_status

__all__ = ["REFRESH_S", "StatusHtmlResource", "StatusJsonResource", "StatusSource", "render_status_html"]

#: The HTML page reloads itself every this many seconds.
REFRESH_S = 5
#: Client ids named per group on the HTML page (the JSON lists every member).
_CLIENT_IDS_SHOWN = 10


class StatusSource:
    """Builds the status document from a broker's collaborators.

    :param identity: ``identity() -> dict`` of this broker's facts (see :func:`build_status`).
    :param metadata_cache: the broker's :class:`~kafkalite.replica.metadata_cache.MetadataCache`.
    :param replica_manager: its :class:`~kafkalite.replica.manager.ReplicaManager` (``partitions``).
    :param group_manager: its :class:`~kafkalite.coordinator.group_metadata_manager.GroupMetadataManager`
        (``current_groups()``).
    :param reassignments: a :class:`~kafkalite.status_reassignments.ZkReassignments` (``current()``).
    :param clock: ``IReactorTime``.
    """

    def __init__(self, identity, metadata_cache, replica_manager, group_manager, reassignments, clock,
                 limit=LIST_LIMIT):
        self._identity = identity
        self._metadata_cache = metadata_cache
        self._replica_manager = replica_manager
        self._group_manager = group_manager
        self._reassignments = reassignments
        self._clock = clock
        self._limit = limit

    def document(self):
        """A Deferred firing with the status document (built on the reactor thread)."""
        return self._reassignments.current().addCallback(self._build)

    def _build(self, reassignments):
        return build_status(self._identity(), self._metadata_cache, dict(self._replica_manager.partitions),
                            self._group_manager.current_groups(), reassignments,
                            int(self._clock.seconds() * 1000), self._limit)


class _StatusResource(Resource):
    """Renders the source's document with :meth:`encode` once it is ready."""

    isLeaf = True
    log = Logger()
    content_type = b""

    def __init__(self, source):
        super().__init__()
        self.source = source

    def encode(self, document):
        raise NotImplementedError

    def render_GET(self, request):
        gone = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def write(document):
            if gone:
                return
            body = self.encode(document)
            request.setHeader(b"content-type", self.content_type)
            request.setHeader(b"cache-control", b"no-store")
            request.write(body)
            request.finish()

        def failed(failure):
            self.log.failure("status page failed", failure)
            if not gone:
                request.setResponseCode(500)
                request.setHeader(b"content-type", b"text/plain; charset=utf-8")
                request.write(b"the status page failed; see the broker log\n")
                request.finish()

        defer.maybeDeferred(self.source.document).addCallback(write).addErrback(failed)
        return NOT_DONE_YET


class StatusJsonResource(_StatusResource):
    """``/status.json``: the status document as JSON."""

    content_type = b"application/json"

    def encode(self, document):
        return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"


class StatusHtmlResource(_StatusResource):
    """``/``: the status document as an HTML page."""

    content_type = b"text/html; charset=utf-8"

    def encode(self, document):
        return render_status_html(document).encode()


# -- HTML --------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.4em 0} th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;
vertical-align:top} th{background:#eee} .ok{color:#1a7f37} .bad{color:#b3261e;font-weight:bold}
.warn{color:#9a6700;font-weight:bold} .muted{color:#666} ul{margin:0;padding-left:1.2em} code{font-size:.95em}
.summary{font-size:1.1em;margin:.6em 0} .nowrap{white-space:nowrap}
"""


def _e(value):
    """``value`` as escaped HTML text (None as a dash)."""
    return "&ndash;" if value is None else html.escape(str(value), quote=True)


def _ids(broker_ids):
    return _e(", ".join(str(b) for b in broker_ids)) if broker_ids else "&ndash;"


def _duration(seconds):
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    text = " ".join("%d %s" % (n, unit) for n, unit in parts if n)
    return (text + " " if text else "") + "%d s" % seconds


def _utc(ms):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000.0))


def _table(headers, rows):
    head = "<tr>%s</tr>" % "".join("<th>%s</th>" % _e(h) for h in headers) if headers else ""
    return "<table>%s%s</table>" % (head, "".join(rows))


def _row(*cells, css=None):
    attribute = ' class="%s"' % css if css else ""
    return "<tr%s>%s</tr>" % (attribute, "".join("<td>%s</td>" % cell for cell in cells))


def _endpoints(endpoints):
    return "<br>".join("%s://%s:%s" % (_e(e["listener"]), _e(e["host"]), _e(e["port"])) for e in endpoints)


def render_status_html(document):
    """The status document as a complete HTML page (a ``str``)."""
    broker = document["broker"]
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta http-equiv="refresh" content="%d">' % REFRESH_S,
        "<title>kafkalite broker %s: status</title><style>%s</style></head><body>" % (_e(broker["broker_id"]), _CSS),
        "<h1>kafkalite broker %s</h1>" % _e(broker["broker_id"]),
        _summary(document),
        _broker_html(broker),
        _cluster_html(document["cluster"]),
        _partitions_html(document["partitions"]),
        _reassignments_html(document["reassignments"]),
        _groups_html(document["groups"]),
        '<p class="muted">Generated %s; reloads every %d s. '
        '<a href="/status.json">status.json</a> &middot; <a href="/metrics">metrics</a></p>'
        % (_e(_utc(document["generated_at_ms"])), REFRESH_S),
        "</body></html>\n",
    ]
    return "".join(parts)


def _summary(document):
    partitions, cluster = document["partitions"], document["cluster"]
    if not cluster["metadata_received"]:
        return '<p class="summary warn">No metadata from the controller yet.</p>'
    problems = []
    if partitions["offline"]:
        problems.append("%d offline" % partitions["offline"])
    if partitions["under_replicated"]:
        problems.append("%d under-replicated" % partitions["under_replicated"])
    if partitions["under_min_isr"]:
        problems.append("%d under min ISR" % partitions["under_min_isr"])
    down = cluster["down_brokers"]
    if down:
        problems.append("broker%s %s down" % ("s" if len(down) > 1 else "", _ids([b["id"] for b in down])))
    if not problems:
        return '<p class="summary ok">All %d partitions healthy.</p>' % partitions["total"]
    css = "bad" if partitions["offline"] else "warn"
    return '<p class="summary %s">Partitions: %s.</p>' % (css, "; ".join(problems))


def _broker_html(broker):
    zookeeper = broker["zookeeper"]
    zk_css = "ok" if zookeeper["state"] == "CONNECTED" else "bad"
    rows = [
        _row("broker id", _e(broker["broker_id"])),
        _row("cluster id", _e(broker["cluster_id"])),
        _row("version", "kafkalite %s" % _e(broker["version"])),
        _row("uptime", _e(_duration(broker["uptime_s"]))),
        _row("ZooKeeper session", '<span class="%s">%s</span> (%s)' % (zk_css, _e(zookeeper["state"]),
                                                                     _e(zookeeper["connect"]))),
        _row("broker epoch", _e(broker["broker_epoch"])),
        _row("active controller", "yes" if broker["is_active_controller"] else "no"),
        _row("listeners", _endpoints(broker["listeners"])),
        _row("advertised", _endpoints(broker["advertised"])),
    ]
    if broker.get("rack") is not None:
        rows.append(_row("rack", _e(broker["rack"])))
    return "<h2>This broker</h2>" + _table(None, rows)


def _cluster_html(cluster):
    if not cluster["metadata_received"]:
        return "<h2>Cluster</h2><p>This broker has not yet received the controller's UpdateMetadata.</p>"
    controller = cluster["controller_id"]
    rows = []
    for broker in cluster["live_brokers"]:
        roles = [role for role, flag in (("controller", broker["is_controller"]), ("this broker", broker["is_self"]))
                 if flag]
        rows.append(_row(_e(broker["id"]), _endpoints(broker["endpoints"]), _e(broker["rack"]),
                         _e(", ".join(roles)) if roles else "", css="broker"))
    for broker in cluster["down_brokers"]:
        rows.append(_row(_e(broker["id"]), '<span class="bad">down</span>', "",
                         "holds %d replica%s" % (broker["replicas"], "" if broker["replicas"] == 1 else "s"),
                         css="broker down"))
    return ("<h2>Cluster</h2><p>Controller: <b>broker %s</b> (epoch %s); %d live brokers; %d topics.</p>"
            % (_e(controller), _e(cluster["controller_epoch"]), len(cluster["live_brokers"]), cluster["topics"])
            + _table(("broker", "endpoints", "rack", "role"), rows))


def _partitions_html(partitions):
    counts = _table(("total", "offline", "under-replicated", "under min ISR (hosted here)", "hosted here"), [_row(
        _e(partitions["total"]), _count(partitions["offline"], "bad"),
        _count(partitions["under_replicated"], "warn"), _count(partitions["under_min_isr"], "bad"),
        _e(partitions["hosted_here"]))])
    unhealthy = partitions["unhealthy"]
    if not unhealthy:
        return "<h2>Partitions</h2>" + counts + "<p class=\"ok\">No partition is offline or under-replicated.</p>"
    rows = []
    for entry in unhealthy:
        why = "<b>%s</b>" % _e(entry["reason"])
        if entry["missing"]:
            why += "<ul>%s</ul>" % "".join('<li class="missing">%s</li>' % _e(m["reason"]) for m in entry["missing"])
        css = "bad" if entry["status"] != "under-replicated" else "warn"
        rows.append(_row("%s-%s" % (_e(entry["topic"]), _e(entry["partition"])),
                         '<span class="%s nowrap">%s</span>' % (css, _e(entry["status"])),
                         _e(entry["leader"]) if entry["leader"] >= 0 else "none", _ids(entry["replicas"]),
                         _ids(entry["isr"]), why, css="partition"))
    text = "<h2>Partitions</h2>" + counts + _table(("partition", "status", "leader", "replicas", "ISR", "why"), rows)
    if partitions["unhealthy_omitted"]:
        text += "<p>&hellip; and %d more unhealthy partitions (not listed).</p>" % partitions["unhealthy_omitted"]
    return text


def _count(value, css):
    return '<span class="%s">%d</span>' % (css, value) if value else "0"


def _reassignments_html(section):
    text = "<h2>Reassignments in progress</h2>"
    if section["error"]:
        text += '<p class="warn">Could not read them from ZooKeeper: %s%s</p>' % (
            _e(section["error"]), "" if section["as_of_ms"] is None else "; showing the last read.")
    if section["legacy_request_partitions"]:
        text += "<p>/admin/reassign_partitions asks for %d partitions.</p>" % section["legacy_request_partitions"]
    if not section["partitions"]:
        return text + "<p>None.</p>" if section["as_of_ms"] is not None else text
    rows = [_row("%s-%s" % (_e(e["topic"]), _e(e["partition"])), _ids(e["replicas"]), _ids(e["adding"]),
                 _ids(e["adding_in_isr"]), _ids(e["removing"]), css="reassignment") for e in section["partitions"]]
    text += _table(("partition", "replicas", "adding", "adding, in ISR", "removing"), rows)
    if section["omitted"]:
        text += "<p>&hellip; and %d more.</p>" % section["omitted"]
    return text


def _groups_html(section):
    text = "<h2>Consumer groups coordinated here</h2><p class=\"muted\">%s</p>" % _e(section["note"])
    if not section["coordinated_here"]:
        return text + "<p>None.</p>"
    rows = []
    for group in section["coordinated_here"]:
        members = group["members"]
        client_ids = sorted({m["client_id"] for m in members})
        clients = ", ".join(client_ids[:_CLIENT_IDS_SHOWN]) + (", ..." if len(client_ids) > _CLIENT_IDS_SHOWN else "")
        lag = _e(group["total_lag"])
        if group["partitions_without_lag"]:
            lag += ' <span class="muted">(%d partitions not hosted here)</span>' % group["partitions_without_lag"]
        rows.append(_row(_e(group["group_id"]), _e(group["state"]), "%d%s" % (
            len(members), " (%s)" % _e(clients) if clients else ""), lag, css="group"))
    text += _table(("group", "state", "members (client ids)", "total lag"), rows)
    if section["omitted"]:
        text += "<p>&hellip; and %d more groups.</p>" % section["omitted"]
    return text
