"""``kafkalite-admin`` entry point: the subcommands, their shared options and the error boundary.

Every subcommand module has ``add_parser(subparsers, common)`` and ``run(args, out)``.
:func:`main` is the one place where failures become a one-line message on stderr and a
non-zero exit (1 for a refused or failed operation, 2 for a bad argument, as argparse does).
"""

import argparse
import sys
from contextlib import contextmanager

from kafkalite.cli.admin import cluster, configs, election, groups, logdirs, reassign, topics
from kafkalite.cli.admin.adminzk import ZkAdmin
from kafkalite.cli.admin.client import AdminClient
from kafkalite.cli.admin.output import AdminError, Output
from kafkalite.cli.admin.zk import open_zookeeper
from kafkalite.protocol.errors import KafkaError
from kafkalite.zkclient import ZkError

__all__ = ["connection", "main"]

SUBCOMMANDS = (topics, configs, reassign, election, groups, cluster, logdirs)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage error as one line (``kafkalite-admin topics: error: ...``)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    parser = _Parser(prog="kafkalite-admin", description=(
        "Administer a kafkalite (or Kafka 2.8) cluster through ZooKeeper (--zookeeper, as Kafka's "
        "--zookeeper tools) or the Admin API (--bootstrap-server)."))
    common = _Parser(add_help=False)
    common.add_argument("--bootstrap-server", metavar="HOST:PORT[,...]", help="use the Admin API of these brokers")
    common.add_argument("--zookeeper", metavar="HOST:PORT[/CHROOT]", help="work on the cluster's ZooKeeper directly")
    common.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    common.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="give up on an unreachable cluster after this long (default 30)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in SUBCOMMANDS:
        module.add_parser(sub, common)
    return parser


@contextmanager
def connection(args, zookeeper=True, bootstrap=True):
    """The cluster connection the options ask for: a :class:`ZkAdmin` or an :class:`AdminClient`.

    :raises AdminError: neither or both given, or a mode this subcommand does not have.
    """
    if bool(args.zookeeper) == bool(args.bootstrap_server):
        modes = " or ".join(m for m, ok in (("--bootstrap-server", bootstrap), ("--zookeeper", zookeeper)) if ok)
        raise AdminError(f"give exactly one of {modes}")
    if args.zookeeper:
        if not zookeeper:
            raise AdminError(f"{args.command}: this operation works through --bootstrap-server only")
        with open_zookeeper(args.zookeeper, args.timeout) as zk:
            yield ZkAdmin(zk)
    else:
        if not bootstrap:
            raise AdminError(f"{args.command}: this operation works through --zookeeper only")
        with AdminClient(args.bootstrap_server, args.timeout) as client:
            yield client


def main(argv=None):
    """Run one ``kafkalite-admin`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = Output(as_json=args.json)
    try:
        status = args.run(args, out)
    except AdminError as error:
        if not out.as_json:  # what was done before the failure (e.g. the rollback JSON); a script gets no half document
            out.flush()
        sys.stderr.write(f"kafkalite-admin {args.command}: {error}\n")
        return 1
    except KafkaError as error:
        sys.stderr.write(f"kafkalite-admin {args.command}: {error.name}: {error.message or error.name}\n")
        return 1
    except (ZkError, ValueError) as error:  # ValueError: a znode that does not decode (zkdata names it)
        sys.stderr.write(f"kafkalite-admin {args.command}: {type(error).__name__}: {error}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    out.flush()
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
