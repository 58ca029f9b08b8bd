"""The generic codec: compiles a ``schema.Message`` at one version into closures.

Owns ``compile_decoder(message, version)`` and ``compile_encoder(message, version)``,
and ``VersionPrefixed``: a data message stored with its int16 version in front (the
``__consumer_offsets`` keys and values, the consumer protocol's embedded metadata).
Compilation resolves, once, which fields exist in the version, whether the version
is flexible (compact strings/arrays/bytes and tagged-field sections), which fields
are tagged, and each field's default, so the run-time closures never consult the
schema. Runs of adjacent fixed-width fields are packed/unpacked with a single
``struct.Struct``.

Data model (see ``kafkalite.protocol.apis``): a message is a ``dict`` keyed by
snake_case field names; structs are dicts, arrays lists (None when null). A field
the version lacks is decoded as its default and ignored on encode. ``records``
fields decode to a ``memoryview`` slice of the input (writable if the input is),
and encode from None, any bytes-like object, or a ``FileRegion``; encoders emit a
list of pieces (``bytes``/``bytearray`` and ``FileRegion``), adjacent bytes joined.
"""

import struct

from kafkalite.protocol.errors import CorruptMessageError
from kafkalite.protocol.regions import FileRegion
from kafkalite.protocol.schema import default_value
from kafkalite.protocol.types import (
    FIXED_FORMATS,
    INT16,
    INT32,
    ProtocolDecodeError,
    read_classic_bytes_slice,
    read_classic_string,
    read_compact_bytes_slice,
    read_compact_string,
    read_uuid,
    read_uvarint,
    write_classic_string,
    write_compact_string,
    write_uuid,
    write_uvarint,
)

__all__ = ["VersionPrefixed", "compile_decoder", "compile_encoder", "finish_pieces"]

_NO_PIECES = []


# ---------------------------------------------------------------------------
# decoding


def _primitive_reader(type_, flexible, nullable, name):
    fmt = FIXED_FORMATS.get(type_)
    if fmt is not None:
        st = struct.Struct(">" + fmt)
        size = st.size
        unpack = st.unpack_from

        def read_fixed(buf, pos):
            return unpack(buf, pos)[0], pos + size

        return read_fixed
    if type_ == "uuid":
        return read_uuid
    if type_ == "string":
        raw = read_compact_string if flexible else read_classic_string
    elif type_ == "bytes":
        slicer = read_compact_bytes_slice if flexible else read_classic_bytes_slice

        def raw(buf, pos):
            value, pos = slicer(buf, pos)
            return (None if value is None else bytes(value)), pos
    elif type_ == "records":
        raw = read_compact_bytes_slice if flexible else read_classic_bytes_slice
    else:
        raise AssertionError(type_)
    if nullable:
        return raw

    def read_not_null(buf, pos):
        value, pos = raw(buf, pos)
        if value is None:
            raise ProtocolDecodeError(f"field {name!r} is null but not nullable in this version")
        return value, pos

    return read_not_null


def _array_count_reader(flexible, nullable, name):
    def read_count(buf, pos):
        if flexible:
            n, pos = read_uvarint(buf, pos)
            n -= 1
        else:
            (n,) = INT32.unpack_from(buf, pos)
            pos += 4
        if n < 0:
            if n == -1 and nullable:
                return None, pos
            raise ProtocolDecodeError(f"array {name!r} has invalid length {n}")
        if n > len(buf) - pos:
            raise ProtocolDecodeError(f"array {name!r} claims {n} elements, more than the bytes left")
        return n, pos

    return read_count


def _field_reader(field, version, flexible):
    nullable = version in field.nullable
    t = field.type
    if field.is_struct():
        elem = _struct_reader(t.fields, version, flexible)
        if not t.is_array:
            return elem
        read_count = _array_count_reader(flexible, nullable, field.name)

        def read_struct_array(buf, pos):
            n, pos = read_count(buf, pos)
            if n is None:
                return None, pos
            out = []
            append = out.append
            for _ in range(n):
                value, pos = elem(buf, pos)
                append(value)
            return out, pos

        return read_struct_array
    if t.startswith("[]"):
        base = t[2:]
        read_count = _array_count_reader(flexible, nullable, field.name)
        fmt = FIXED_FORMATS.get(base)
        if fmt is not None:
            size = struct.calcsize(fmt)

            def read_fixed_array(buf, pos):
                n, pos = read_count(buf, pos)
                if n is None:
                    return None, pos
                return list(struct.unpack_from(f">{n}{fmt}", buf, pos)), pos + n * size

            return read_fixed_array
        elem = _primitive_reader(base, flexible, False, field.name)

        def read_array(buf, pos):
            n, pos = read_count(buf, pos)
            if n is None:
                return None, pos
            out = []
            for _ in range(n):
                value, pos = elem(buf, pos)
                out.append(value)
            return out, pos

        return read_array
    return _primitive_reader(t, flexible, nullable, field.name)


def _is_fixed(fld):
    return isinstance(fld.type, str) and fld.type in FIXED_FORMATS


def _fixed_runs(fields):
    """Group adjacent fixed-width fields into lists (one ``struct`` call each); others stay single."""
    groups = []
    for fld in fields:
        if _is_fixed(fld) and groups and isinstance(groups[-1], list):
            groups[-1].append(fld)
        elif _is_fixed(fld):
            groups.append([fld])
        else:
            groups.append(fld)
    return groups


def _struct_reader(fields, version, flexible):
    """Compile a reader returning ``(dict, pos)`` for a struct at ``version``."""
    present = [fld for fld in fields if version in fld.versions and not fld.is_tagged_in(version)]
    tagged = {fld.tag: fld for fld in fields if flexible and fld.is_tagged_in(version)}
    absent = [fld for fld in fields if fld not in present and fld.tag not in tagged]
    # Defaults for absent fields: immutable ones are copied from a template, mutable
    # ones (lists, dicts) rebuilt per message so handlers may mutate what they get.
    template = {}
    fresh = []
    for fld in absent + list(tagged.values()):
        value = default_value(fld)
        if isinstance(value, (list, dict)):
            fresh.append(fld)
        else:
            template[fld.name] = value

    steps = [  # each: step(buf, pos, d) -> pos
        _fixed_run_reader(group) if isinstance(group, list)
        else _single_reader(group.name, _field_reader(group, version, flexible))
        for group in _fixed_runs(present)
    ]

    tag_readers = {tag: (fld.name, _field_reader(fld, version, flexible)) for tag, fld in tagged.items()}

    def read_struct(buf, pos):
        d = dict(template)
        for fld in fresh:
            d[fld.name] = default_value(fld)
        for step in steps:
            pos = step(buf, pos, d)
        if flexible:
            count, pos = read_uvarint(buf, pos)
            for _ in range(count):
                tag, pos = read_uvarint(buf, pos)
                size, pos = read_uvarint(buf, pos)
                end = pos + size
                if end > len(buf):
                    raise ProtocolDecodeError(f"tagged field {tag} runs past the end of the buffer")
                known = tag_readers.get(tag)
                if known is not None:
                    name, reader = known
                    d[name], used = reader(buf[:end], pos)
                    if used != end:
                        raise ProtocolDecodeError(f"tagged field {name!r} has {end - used} bytes left over")
                pos = end
        return d, pos

    return read_struct


def _fixed_run_reader(run):
    st = struct.Struct(">" + "".join(FIXED_FORMATS[fld.type] for fld in run))
    size = st.size
    unpack = st.unpack_from
    if len(run) == 1:
        name = run[0].name

        def read_one(buf, pos, d):
            d[name] = unpack(buf, pos)[0]
            return pos + size

        return read_one
    names = tuple(fld.name for fld in run)

    def read_run(buf, pos, d):
        d.update(zip(names, unpack(buf, pos)))
        return pos + size

    return read_run


def _single_reader(name, reader):
    def read_field(buf, pos, d):
        d[name], pos = reader(buf, pos)
        return pos

    return read_field


def compile_decoder(message, version):
    """Return ``decode(buf, offset=0) -> dict`` for ``message`` at ``version``.

    ``buf`` may be bytes, bytearray or memoryview; ``records`` fields come back as
    slices of ``memoryview(buf)``. Any malformed input raises ``ProtocolDecodeError``.
    """
    flexible = version in message.flexible
    reader = _struct_reader(message.fields, version, flexible)

    def decode(buf, offset=0):
        mv = buf if isinstance(buf, memoryview) else memoryview(buf)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        try:
            value, _pos = reader(mv, offset)
        except ProtocolDecodeError:
            raise
        except (struct.error, IndexError, ValueError, UnicodeDecodeError, OverflowError) as e:
            raise ProtocolDecodeError(f"cannot decode {message.name} v{version}: {e}") from e
        return value

    return decode


# ---------------------------------------------------------------------------
# encoding


def _write_records(flexible):
    def write_records(out, pieces, value):
        if value is None:
            if flexible:
                out.append(0)
            else:
                out += b"\xff\xff\xff\xff"
            return
        n = len(value)
        if flexible:
            write_uvarint(out, n + 1)
        else:
            out += INT32.pack(n)
        if isinstance(value, FileRegion):
            # Close the current byte piece; the region goes out with sendfile.
            pieces.append(bytes(out))
            pieces.append(value)
            del out[:]
        else:
            out += value

    return write_records


def _primitive_writer(type_, flexible):
    fmt = FIXED_FORMATS.get(type_)
    if fmt is not None:
        pack = struct.Struct(">" + fmt).pack

        def write_fixed(out, pieces, value):
            out += pack(value)

        return write_fixed
    if type_ == "uuid":
        return write_uuid
    if type_ == "string":
        raw = write_compact_string if flexible else write_classic_string

        def write_string(out, pieces, value):
            raw(out, value)

        return write_string
    if type_ == "bytes":
        if flexible:

            def write_bytes(out, pieces, value):
                if value is None:
                    out.append(0)
                else:
                    write_uvarint(out, len(value) + 1)
                    out += value
        else:

            def write_bytes(out, pieces, value):
                if value is None:
                    out += b"\xff\xff\xff\xff"
                else:
                    out += INT32.pack(len(value))
                    out += value

        return write_bytes
    if type_ == "records":
        return _write_records(flexible)
    raise AssertionError(type_)


def _non_null(writer, empty):
    """Wrap a writer so None (in a version where null is not allowed) writes ``empty``."""

    def write(out, pieces, value):
        writer(out, pieces, empty if value is None else value)

    return write


def _write_count(flexible):
    if flexible:

        def write_count(out, n):
            write_uvarint(out, n + 1)
    else:

        def write_count(out, n):
            out += INT32.pack(n)

    return write_count


def _field_writer(field, version, flexible):
    nullable = version in field.nullable
    t = field.type
    if field.is_struct():
        elem = _struct_writer(t.fields, version, flexible)
        if not t.is_array:
            return elem
        write_count = _write_count(flexible)

        def write_struct_array(out, pieces, value):
            if value is None:
                write_count(out, -1)
                return
            write_count(out, len(value))
            for item in value:
                elem(out, pieces, item)

        return write_struct_array if nullable else _non_null(write_struct_array, ())
    if t.startswith("[]"):
        base = t[2:]
        write_count = _write_count(flexible)
        fmt = FIXED_FORMATS.get(base)
        if fmt is not None:

            def write_fixed_array(out, pieces, value):
                if value is None:
                    write_count(out, -1)
                    return
                write_count(out, len(value))
                out += struct.pack(f">{len(value)}{fmt}", *value)

            return write_fixed_array if nullable else _non_null(write_fixed_array, ())
        elem = _primitive_writer(base, flexible)

        def write_array(out, pieces, value):
            if value is None:
                write_count(out, -1)
                return
            write_count(out, len(value))
            for item in value:
                elem(out, pieces, item)

        return write_array if nullable else _non_null(write_array, ())
    writer = _primitive_writer(t, flexible)
    if nullable or t == "records" or t in FIXED_FORMATS or t == "uuid":
        return writer
    return _non_null(writer, "" if t == "string" else b"")


def _struct_writer(fields, version, flexible):
    """Compile ``write(out, pieces, d)`` for a struct at ``version``."""
    present = [fld for fld in fields if version in fld.versions and not fld.is_tagged_in(version)]
    tagged = sorted(
        (fld for fld in fields if flexible and fld.is_tagged_in(version)),
        key=lambda fld: fld.tag,
    )
    steps = [
        _fixed_run_writer(group) if isinstance(group, list)
        else _single_writer(group, _field_writer(group, version, flexible))
        for group in _fixed_runs(present)
    ]
    tag_writers = [(fld.tag, fld.name, default_value(fld), _field_writer(fld, version, flexible)) for fld in tagged]

    def write_struct(out, pieces, d):
        if d is None:
            d = {}
        for step in steps:
            step(out, pieces, d)
        if flexible:
            if not tag_writers:
                out.append(0)
                return
            chunks = []
            for tag, name, default, writer in tag_writers:
                value = d.get(name, default)
                if value != default:
                    tmp = bytearray()
                    writer(tmp, _NO_PIECES, value)
                    chunks.append((tag, tmp))
            write_uvarint(out, len(chunks))
            for tag, tmp in chunks:
                write_uvarint(out, tag)
                write_uvarint(out, len(tmp))
                out += tmp

    return write_struct


def _fixed_run_writer(run):
    pack = struct.Struct(">" + "".join(FIXED_FORMATS[fld.type] for fld in run)).pack
    if len(run) == 1:
        name, default = run[0].name, run[0].default

        def write_one(out, pieces, d):
            out += pack(d.get(name, default))

        return write_one
    pairs = tuple((fld.name, fld.default) for fld in run)

    def write_run(out, pieces, d):
        get = d.get
        out += pack(*[get(name, default) for name, default in pairs])

    return write_run


def _single_writer(fld, writer):
    name = fld.name
    default = default_value(fld)

    def write_field(out, pieces, d):
        writer(out, pieces, d.get(name, default))

    return write_field


def finish_pieces(out, pieces):
    """Close an encoding: the final byte piece is appended to ``pieces``; returns pieces."""
    if out or not pieces:
        pieces.append(out)
    return pieces


def compile_encoder(message, version):
    """Return ``encode(msg, out=None, pieces=None) -> list of pieces`` for ``message`` at ``version``.

    ``out``/``pieces`` let a caller prepend a header into the same first piece.
    """
    flexible = version in message.flexible
    writer = _struct_writer(message.fields, version, flexible)

    def encode(msg, out=None, pieces=None):
        if out is None:
            out = bytearray()
        if pieces is None:
            pieces = []
        writer(out, pieces, msg)
        return finish_pieces(out, pieces)

    return encode


class VersionPrefixed:
    """A data message (Kafka's ``"type": "data"``) encoded after an int16 of its version.

    Kafka writes such messages with ``MessageUtil.toVersionPrefixedBytes``: the version,
    then the body in that version's layout. Every valid version is compiled once.

    :param message: the ``schema.Message``; its versions must not be flexible here.
    :param newer_as_highest: decode a version above the declared range in the highest
        declared layout instead of refusing it (the consumer protocol promises that newer
        versions only append fields).
    """

    __slots__ = ("_decoders", "_encoders", "message", "newer_as_highest")

    def __init__(self, message, newer_as_highest=False):
        self.message = message
        self.newer_as_highest = newer_as_highest
        versions = range(message.valid.low, message.valid.high + 1)
        self._decoders = {v: compile_decoder(message, v) for v in versions}
        self._encoders = {v: compile_encoder(message, v) for v in versions}

    def __repr__(self):
        return f"VersionPrefixed({self.message.name})"

    def encode(self, value, version):
        """``value`` (a dict) as bytes: int16 ``version``, then the body."""
        out = bytearray(PACK_INT16(version))
        return b"".join(self._encoders[version](value, out))

    def decode(self, data):
        """Read the version and the body of ``data``.

        :returns: ``(version, dict)``; ``version`` is the one written, even when it was read
            in the highest declared layout.
        :raises CorruptMessageError: truncated or malformed, or a version outside the range.
        """
        version = self.peek_version(data)
        layout = version
        if version > self.message.valid.high and self.newer_as_highest:
            layout = self.message.valid.high
        decoder = self._decoders.get(layout)
        if decoder is None:
            raise CorruptMessageError(f"{self.message.name} has no version {version}")
        try:
            return version, decoder(data, 2)
        except ProtocolDecodeError as e:
            raise CorruptMessageError(str(e)) from e

    @staticmethod
    def peek_version(data):
        """The int16 version in front of ``data``; raises :class:`CorruptMessageError` if absent."""
        if data is None or len(data) < 2:
            raise CorruptMessageError("no version prefix")
        return INT16.unpack_from(data, 0)[0]


# The int16 pack is re-exported for headers.
PACK_INT16 = INT16.pack
