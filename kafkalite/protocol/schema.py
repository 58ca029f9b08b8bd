"""Our compact notation for declaring a Kafka message schema once for all versions.

Owns ``Versions`` (a version range such as ``"0+"``, ``"3-7"``, ``"none"``), ``Field``
and the builders the API modules use:

- ``f(name, type, versions="0+", nullable=None, default=..., tag=None, tagged=None)``
  declares one field. ``type`` is a primitive name (``"int8"`` … ``"int64"``,
  ``"uint16"``, ``"uint32"``, ``"float64"``, ``"bool"``, ``"uuid"``, ``"string"``,
  ``"bytes"``, ``"records"``), an array of a primitive (``"[]int32"``,
  ``"[]string"``), ``arr(...)`` (an array of structs) or ``obj(...)`` (a struct).
  ``nullable`` is the version range in which null is allowed; ``tag`` makes the
  field a tagged field (in ``tagged`` versions, by default all of ``versions``).
- ``message(name, valid, flexible, *fields)`` declares a request or response body.

Names are the snake_case of Kafka's JSON field names. Defaults follow Kafka's JSON
``default`` where it gives one, else 0 / "" / False / [] / zero UUID, or None for a
field that is nullable in some version (and always for ``records``).

This module only describes; ``codec`` compiles declarations into encoders/decoders.
"""

from kafkalite.protocol.types import FIXED_FORMATS, ZERO_UUID

__all__ = ["Field", "Message", "StructType", "Versions", "arr", "default_value", "f", "message", "obj"]

PRIMITIVES = set(FIXED_FORMATS) | {"uuid", "string", "bytes", "records"}


class Versions:
    """An inclusive version range parsed from Kafka's notation ("0+", "3-7", "5", "none")."""

    __slots__ = ("high", "low")

    def __init__(self, spec):
        spec = spec.strip()
        if spec == "none":
            self.low, self.high = 1, 0  # empty
        elif spec.endswith("+"):
            self.low, self.high = int(spec[:-1]), 1 << 15
        elif "-" in spec:
            low, high = spec.split("-")
            self.low, self.high = int(low), int(high)
        else:
            self.low = self.high = int(spec)

    def __contains__(self, version):
        return self.low <= version <= self.high

    def __repr__(self):
        return f"Versions({self.low}-{self.high})"


class StructType:
    """A struct of fields; ``is_array`` makes it an array of such structs."""

    __slots__ = ("fields", "is_array")

    def __init__(self, fields, is_array):
        self.fields = list(fields)
        self.is_array = is_array
        names = [fld.name for fld in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate field names in {names!r}")
        tags = [fld.tag for fld in self.fields if fld.tag is not None]
        if len(set(tags)) != len(tags):
            raise ValueError(f"duplicate tags in {names!r}")


def arr(*fields):
    """An array of structs with these fields."""
    return StructType(fields, True)


def obj(*fields):
    """A (non-array) struct with these fields."""
    return StructType(fields, False)


_UNSET = object()


class Field:
    """One declared field. See the module docstring for the meaning of each part."""

    __slots__ = ("default", "name", "nullable", "tag", "tagged", "type", "versions")

    def __init__(self, name, type_, versions="0+", nullable=None, default=_UNSET, tag=None, tagged=None):
        if isinstance(type_, str):
            base = type_.removeprefix("[]")
            if base not in PRIMITIVES:
                raise ValueError(f"unknown type {type_!r} for field {name!r}")
        self.name = name
        self.type = type_
        self.versions = Versions(versions)
        self.nullable = Versions(nullable or "none")
        self.tag = tag
        self.tagged = Versions(tagged or versions) if tag is not None else Versions("none")
        if default is _UNSET:
            default = _implicit_default(type_, nullable is not None)
        self.default = default

    def is_struct(self):
        """Whether this field is a struct or an array of structs."""
        return isinstance(self.type, StructType)

    def is_tagged_in(self, version):
        """Whether this field is carried as a tagged field in ``version``."""
        return self.tag is not None and version in self.tagged

    def __repr__(self):
        return f"Field({self.name!r})"


f = Field


def _implicit_default(type_, any_nullable):
    if isinstance(type_, StructType):
        if type_.is_array:
            return None if any_nullable else []
        return None if any_nullable else _StructDefault(type_)
    if type_ == "records" or any_nullable:
        return None
    if type_.startswith("[]"):
        return []
    if type_ == "string":
        return ""
    if type_ == "bytes":
        return b""
    if type_ == "uuid":
        return ZERO_UUID
    if type_ == "bool":
        return False
    if type_ == "float64":
        return 0.0
    return 0


class _StructDefault:
    """Marker: the default of a struct field is a dict of its fields' defaults."""

    __slots__ = ("struct",)

    def __init__(self, struct):
        self.struct = struct


def default_value(field):
    """A fresh default value for ``field`` (lists and dicts are new objects each call)."""
    d = field.default
    if isinstance(d, _StructDefault):
        return {fld.name: default_value(fld) for fld in d.struct.fields}
    if isinstance(d, list):
        return list(d)
    return d


class Message:
    """A request or response body declaration: its valid and flexible versions and fields."""

    __slots__ = ("flexible", "name", "struct", "valid")

    def __init__(self, name, valid, flexible, fields):
        self.name = name
        self.valid = Versions(valid)
        self.flexible = Versions(flexible)
        self.struct = StructType(fields, False)

    @property
    def fields(self):
        """The top-level fields."""
        return self.struct.fields

    @property
    def first_flexible_version(self):
        """The first flexible version, or None if the message is never flexible."""
        if self.flexible.low > self.flexible.high or self.flexible.low > self.valid.high:
            return None
        return self.flexible.low


def message(name, valid, flexible, *fields):
    """Declare a message body: ``message("FetchRequest", "0-12", "12+", f(...), ...)``."""
    return Message(name, valid, flexible, fields)
