"""Our schema declarations agree with Kafka's own message definitions, version by version.

Oracle: the Kafka message JSON files bundled with kafka-python (a test dependency;
they are from a newer Kafka, so versions removed since 2.8 are absent there) and,
for those old versions, kafka-python's hand-written per-version structs. For every
version both sides know, the wire shape must match field for field: name
(snake_case of Kafka's name), type, nullability and tag. The controller-only APIs
(LeaderAndIsr, UpdateMetadata, StopReplica, ControlledShutdown, AlterIsr) are not
in either oracle; they were checked by hand against the 2.8 JSON.
"""

import functools
import inspect
import re
import warnings

import pytest

from kafkalite.protocol.apis import API_BY_KEY
from kafkalite.protocol.schema import Versions

with warnings.catch_warnings():  # kafka-python's JSON loader uses deprecated importlib calls at import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.old import types as old_types
    from kafka.protocol.old.api import Request, Response
    from kafka.protocol.schemas.load_json import load_json as _load_json


@functools.cache
def load_json(name):
    """Kafka's JSON for one message via kafka-python (loader uses deprecated importlib calls), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return _load_json(name)
        except FileNotFoundError:
            return None


# Fields Kafka renamed or added to an existing version after 2.8 (wire-compatible).
RENAMED_AFTER_2_8 = {"generation_id_or_member_epoch": "generation_id"}
ADDED_AFTER_2_8 = {("ApiVersionsResponse", "zk_migration_ready")}


def snake(name):
    """Kafka's CamelCase JSON name → our snake_case name."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


def json_shape(message_name, fields, version, flexible):
    """The wire shape of Kafka's JSON fields at ``version``."""
    out = []
    for fd in fields:
        name = RENAMED_AFTER_2_8.get(snake(fd["name"]), snake(fd["name"]))
        if version not in Versions(fd["versions"]) or (message_name, name) in ADDED_AFTER_2_8:
            continue
        tagged = flexible and "tag" in fd and version in Versions(fd.get("taggedVersions", fd["versions"]))
        kind = fd["type"]
        if "fields" in fd:
            kind = ("[]" if kind.startswith("[]") else "{}", json_shape(message_name, fd["fields"], version, flexible))
        nullable = version in Versions(fd.get("nullableVersions", "none"))
        out.append((name, kind, nullable, fd["tag"] if tagged else None))
    return out


def our_shape(fields, version, flexible):
    """The wire shape of our declaration at ``version``."""
    out = []
    for fd in fields:
        if version not in fd.versions:
            continue
        kind = fd.type
        if fd.is_struct():
            kind = ("[]" if kind.is_array else "{}", our_shape(kind.fields, version, flexible))
        tag = fd.tag if flexible and fd.is_tagged_in(version) else None
        out.append((fd.name, kind, version in fd.nullable, tag))
    return out


def _json_cases():
    for api in sorted(API_BY_KEY.values(), key=lambda a: a.key):
        for side in ("Request", "Response"):
            data = load_json(api.name + side)
            if data is None:
                continue
            for version in range(api.min_version, api.max_version + 1):
                if version in Versions(data["validVersions"]):
                    yield pytest.param(api, side, version, data, id=f"{api.name}{side}-v{version}")


@pytest.mark.parametrize(("api", "side", "version", "data"), list(_json_cases()))
def test_matches_kafka_json(api, side, version, data):
    """Field names, types, nullability, tags and flexibility match Kafka's JSON at this version."""
    schema = api.request if side == "Request" else api.response
    flexible = version in schema.flexible
    assert flexible == (version in Versions(data.get("flexibleVersions", "none")))
    assert our_shape(schema.fields, version, flexible) == json_shape(schema.name, data["fields"], version, flexible)


def _old_shape(t, types):
    if isinstance(t, types.Schema):
        return ["{", *[tok for f in t.fields for tok in _old_shape(f, types)], "}"]
    if isinstance(t, types.Array):
        return ["[", *_old_shape(t.array_of, types), "]"]
    if isinstance(t, types.String) or t is types.String:
        return ["string"]
    if isinstance(t, types.Bytes) or t is types.Bytes:
        return ["bytes"]
    name = t.__name__ if isinstance(t, type) else type(t).__name__
    return [{"Int8": "int8", "Int16": "int16", "Int32": "int32", "Int64": "int64", "Boolean": "bool"}[name]]


def _our_tokens(fields, version):
    out = ["{"]
    for fd in fields:
        if version not in fd.versions:
            continue
        if fd.is_struct():
            inner = _our_tokens(fd.type.fields, version)
            out += ["[", *inner, "]"] if fd.type.is_array else inner[1:-1]
        elif fd.type.startswith("[]"):
            out += ["[", fd.type[2:], "]"]
        else:
            out.append("bytes" if fd.type == "records" else fd.type)
    return [*out, "}"]


#: kafka-python's hand-written old structs that disagree with Kafka itself: DescribeLogDirs v0's
#: partitions are ``[]int32`` in Kafka 2.8's DescribeLogDirsRequest.json, a single Int32 there.
KAFKA_PYTHON_OLD_STRUCT_ERRORS = {"DescribeLogDirsRequest_v0"}


def _old_cases():
    import importlib

    for module in ("produce", "fetch", "list_offsets", "commit", "admin", "offset_for_leader_epoch"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            mod = importlib.import_module("kafka.protocol.old." + module)
        for cls in vars(mod).values():
            if not (inspect.isclass(cls) and issubclass(cls, (Request, Response)) and "SCHEMA" in vars(cls)):
                continue
            api = API_BY_KEY.get(getattr(cls, "API_KEY", None))
            if api is None or not api.supports(cls.API_VERSION):
                continue
            side = "Request" if issubclass(cls, Request) else "Response"
            data = load_json(api.name + side)
            if data is not None and cls.API_VERSION in Versions(data["validVersions"]):
                continue  # covered by the JSON comparison
            if cls.__name__ in KAFKA_PYTHON_OLD_STRUCT_ERRORS:
                continue
            yield pytest.param(api, side, cls.API_VERSION, _old_shape(cls.SCHEMA, old_types), id=f"{cls.__name__}")


@pytest.mark.parametrize(("api", "side", "version", "shape"), list(_old_cases()))
def test_old_versions_match_kafka_python_structs(api, side, version, shape):
    """Versions dropped from newer Kafka JSON (Produce v0-2, Fetch v0-3, ...) match kafka-python's layout."""
    schema = api.request if side == "Request" else api.response
    assert _our_tokens(schema.fields, version) == shape
