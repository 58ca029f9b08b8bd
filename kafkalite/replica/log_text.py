"""Log texts built only when a log observer formats them.

A Twisted log event keeps its fields as they are and formats them only for an observer
that writes it out; a debug event filtered away costs nothing more than its creation.
:class:`JoinedLater` lets one event carry thousands of partitions' changes that way.
"""

__all__ = ["JoinedLater"]


class JoinedLater:
    """``separator.join(describe(*item) for item in items)``, computed by ``str()``."""

    def __init__(self, items, describe, separator):
        self.items = items
        self.describe = describe
        self.separator = separator

    def __str__(self):
        describe = self.describe
        return self.separator.join(describe(*item) for item in self.items)
