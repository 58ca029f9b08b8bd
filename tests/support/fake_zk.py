"""FakeZk: an in-memory stand-in for :class:`kafkalite.zkclient.ZkClient`, for controller and ISR unit tests.

It implements the ZkClient interface the controller and the ISR writer use — ``get``,
``get_many``, ``exists``, ``get_children``, ``create``, ``set``, ``delete``,
``transaction`` and ``transactions`` — over a dict of znodes with data versions and
czxids, answering at once with already-fired Deferreds, so code driven by it runs to
completion synchronously. Semantics follow ZooKeeper's: versioned sets, sequential
creates (``makepath`` creating missing parents), a multi applies wholly or not at all,
and :meth:`transactions` gives one result (or error, with ``op_index`` within its group)
per group and fails as a whole when its guard fails. Watches are accepted and recorded
in :attr:`watches` but never fired; tests put the controller's events themselves.
:attr:`conflicts` injects a leader's concurrent write: the next ``n`` version-checked
sets of a path find its version moved on.
"""

import json

from twisted.internet import defer

from kafkalite.zkclient import BadVersionError, Check, Create, Delete, NodeExistsError, NoNodeError, SetData, ZnodeStat

__all__ = ["FakeZk"]


class FakeZk:
    """A dict of znodes with versions and czxids; watches are recorded, fired only on demand."""

    def __init__(self):
        self.nodes = {}
        self.watches = []
        self._zxid = 100
        self._sequence = 0
        #: conflicting writes to inject: path -> number of version-checked sets that fail with BadVersion first.
        self.conflicts = {}

    # -- test helpers ------------------------------------------------------------------------

    def put(self, path, data, version=0):
        """Store ``path`` as if written ``version`` times (a fresh czxid)."""
        self._zxid += 1
        self.nodes[path] = [bytes(data), version, self._zxid]

    def json(self, path):
        """The node's data decoded as JSON."""
        return json.loads(self.nodes[path][0])

    def children(self, path):
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self.nodes if p.startswith(prefix)})

    # -- reads -------------------------------------------------------------------------------

    def _stat(self, path):
        _, version, czxid = self.nodes[path]
        return ZnodeStat(czxid, czxid, 0, 0, version, 0, 0, 0, len(self.nodes[path][0]), 0, 0)

    def _record_watch(self, path, watch):
        if watch is not None:
            self.watches.append((path, watch))

    def get(self, path, watch=None):
        if path not in self.nodes:
            return defer.fail(NoNodeError(path=path))
        self._record_watch(path, watch)
        return defer.succeed((self.nodes[path][0], self._stat(path)))

    def get_many(self, paths, batch=None):
        return defer.succeed([(self.nodes[p][0], self._stat(p)) if p in self.nodes else NoNodeError(path=p)
                              for p in paths])

    def exists(self, path, watch=None):
        self._record_watch(path, watch)
        return defer.succeed(self._stat(path) if path in self.nodes else None)

    def get_children(self, path, watch=None):
        if path not in self.nodes and not self.children(path):
            return defer.fail(NoNodeError(path=path))
        self._record_watch(path, watch)
        return defer.succeed(self.children(path))

    # -- writes --------------------------------------------------------------------------------

    def _create(self, path, value, sequence=False, makepath=False):
        if sequence:
            self._sequence += 1
            path = "%s%010d" % (path, self._sequence)
        if path in self.nodes:
            raise NodeExistsError(path=path)
        parent = path.rsplit("/", 1)[0]
        if parent and parent not in self.nodes and not self.children(parent):
            if not makepath:
                raise NoNodeError(path=path)
            self._create(parent, b"", makepath=True)
        self.put(path, value)
        return path

    def _set(self, path, value, version):
        if path not in self.nodes:
            raise NoNodeError(path=path)
        if self.conflicts.get(path) and version != -1:
            self.conflicts[path] -= 1
            self.nodes[path][1] += 1  # someone else wrote meanwhile
        if version not in (-1, self.nodes[path][1]):
            raise BadVersionError(path=path)
        self.nodes[path][0] = bytes(value)
        self.nodes[path][1] += 1
        return self._stat(path)

    def _check(self, path, version):
        if path not in self.nodes:
            raise NoNodeError(path=path)
        if self.nodes[path][1] != version:
            raise BadVersionError(path=path)
        return True

    def _delete(self, path, version=-1):
        if path not in self.nodes:
            raise NoNodeError(path=path)
        if version not in (-1, self.nodes[path][1]):
            raise BadVersionError(path=path)
        del self.nodes[path]
        return True

    def create(self, path, value=b"", ephemeral=False, sequence=False, makepath=False):
        return _attempt(self._create, path, value, sequence, makepath)

    def set(self, path, value, version=-1):
        return _attempt(self._set, path, value, version)

    def delete(self, path, version=-1, recursive=False):
        doomed = [p for p in self.nodes if p == path or (recursive and p.startswith(path + "/"))]
        if not doomed:
            return defer.fail(NoNodeError(path=path))
        for p in doomed:
            del self.nodes[p]
        return defer.succeed(True)

    def _apply(self, op):
        if isinstance(op, tuple) and not isinstance(op, (Create, SetData, Check, Delete)):
            op = {"create": Create, "set": SetData, "check": Check, "delete": Delete}[op[0]](*op[1:])
        if isinstance(op, Create):
            return self._create(op.path, op.value, op.sequence)
        if isinstance(op, SetData):
            return self._set(op.path, op.value, op.version)
        if isinstance(op, Check):
            return self._check(op.path, op.version)
        return self._delete(op.path, op.version)

    def _multi(self, ops):
        """Apply ``ops`` all or nothing; raises the first failure with its ``op_index``."""
        saved = {path: list(node) for path, node in self.nodes.items()}
        results = []
        for index, op in enumerate(ops):
            try:
                results.append(self._apply(op))
            except (BadVersionError, NodeExistsError, NoNodeError) as error:
                self.nodes = saved
                error.op_index = index
                raise
        return results

    def transaction(self, ops):
        return _attempt(self._multi, list(ops))

    def transactions(self, groups, guard=None, batch=None):
        results = []
        for group in groups:
            try:
                applied = self._multi(([guard] if guard is not None else []) + list(group))
            except (BadVersionError, NodeExistsError, NoNodeError) as error:
                if guard is not None and error.op_index == 0:
                    return defer.fail(error)
                error.op_index -= 1 if guard is not None else 0
                results.append(error)
                continue
            results.append(applied[1:] if guard is not None else applied)
        return defer.succeed(results)


def _attempt(fn, *args):
    try:
        return defer.succeed(fn(*args))
    except Exception as error:  # noqa: BLE001 -- becomes the Deferred's failure
        return defer.fail(error)
