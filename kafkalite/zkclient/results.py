"""Results of batched ZooKeeper calls as :class:`~kafkalite.zkclient.client.ZkClient` hands them on.

Pure functions over kazoo's results: packing small atomic groups into multis of about a
batch size, multiRead and multi results turned into ours (stats, mapped errors with the
failing operation's index, None for operations rolled back), and the first error raised.
"""

from kazoo.exceptions import RolledBackError as _KazooRolledBack
from twisted.internet import defer

from kafkalite.zkclient.values import SetData, ZkError, map_error, to_stat

__all__ = ["first_failure", "multi_results", "pack", "raise_first_error", "read_results"]


def pack(indexes, groups, batch):
    """Split ``indexes`` into runs whose groups hold about ``batch`` operations together."""
    chunks, current, count = [], [], 0
    for index in indexes:
        if current and count + len(groups[index]) > batch:
            chunks.append(current)
            current, count = [], 0
        current.append(index)
        count += len(groups[index])
    if current:
        chunks.append(current)
    return chunks


def read_results(paths, results):
    """multiRead results as ours: ``(data, ZnodeStat)`` or the mapped error, per path."""
    return [map_error(result, path) if isinstance(result, Exception) else (result[0], to_stat(result[1]))
            for path, result in zip(paths, results, strict=True)]


def multi_results(ops, results):
    """kazoo's multi results as ours: stats for set-data; for a failed multi, the failing
    operation's error (``op_index`` set) and None for every operation that was not applied."""
    converted = []
    failed = False
    for index, (op, result) in enumerate(zip(ops, results, strict=True)):
        if not isinstance(result, Exception):
            converted.append(to_stat(result) if isinstance(op, SetData) else result)
        elif failed or isinstance(result, _KazooRolledBack):
            converted.append(None)  # rolled back, or never tried after the failing one
        else:
            failed = True
            error = map_error(result, op.path)
            if not isinstance(error, ZkError):
                error = ZkError(f"{type(result).__name__}: {result} ({op.path})", path=op.path)
            error.op_index = index
            converted.append(error)
    return converted


def raise_first_error(ops_and_results):
    _ops, results = ops_and_results
    for result in results:
        if isinstance(result, ZkError):
            raise result
    return results


def first_failure(failure):
    """gatherResults wraps the first failure in a FirstError; hand on the original."""
    failure.trap(defer.FirstError)
    return failure.value.subFailure
