"""Golden bytes written by hand: hex with spaces and ``#`` comments, one field per line.

Owns :func:`hex_bytes`, which the protocol golden-byte tests lay their expected frames out with.
"""

__all__ = ["hex_bytes"]


def hex_bytes(text):
    """Hex with spaces and comments (``#`` to end of line) → bytes."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))
