"""Shared argument-parsing pieces of the subcommands: Kafka's one-of action flags."""

__all__ = ["add_actions"]


def add_actions(parser, names):
    """Kafka's style of choosing the operation: exactly one of ``--<name>`` flags, stored as ``args.action``."""
    group = parser.add_mutually_exclusive_group(required=True)
    for name in names:
        group.add_argument(f"--{name}", action="store_const", const=name, dest="action")
    return group
