"""Unit tests for kafkalite.zkdata: paths and znode codecs against golden Kafka 2.8 JSON."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkalite import zkdata
from kafkalite.protocol.errors import InvalidTopicError

# --------------------------------------------------------------------------- paths


def test_paths_match_kafka_layout():
    """Every path helper produces the znode path Kafka 2.8 uses."""
    assert zkdata.broker_path(3) == "/brokers/ids/3"
    assert zkdata.topic_path("t") == "/brokers/topics/t"
    assert zkdata.partitions_path("t") == "/brokers/topics/t/partitions"
    assert zkdata.partition_path("t", 2) == "/brokers/topics/t/partitions/2"
    assert zkdata.partition_state_path("t", 2) == "/brokers/topics/t/partitions/2/state"
    assert zkdata.config_topic_path("t") == "/config/topics/t"
    assert zkdata.config_broker_path("<default>") == "/config/brokers/<default>"
    assert zkdata.delete_topic_path("t") == "/admin/delete_topics/t"
    assert zkdata.consumer_offset_path("g", "t", 0) == "/consumers/g/offsets/t/0"
    assert zkdata.isr_change_path() == "/isr_change_notification/isr_change_"
    assert zkdata.config_change_path() == "/config/changes/config_change_"
    assert zkdata.log_dir_event_path("0000000001") == "/log_dir_event_notification/log_dir_event_0000000001"
    assert zkdata.CONTROLLER == "/controller"
    assert zkdata.CONTROLLER_EPOCH == "/controller_epoch"
    assert zkdata.CLUSTER_ID == "/cluster/id"
    assert zkdata.REASSIGN_PARTITIONS == "/admin/reassign_partitions"
    assert zkdata.PREFERRED_REPLICA_ELECTION == "/admin/preferred_replica_election"
    assert zkdata.LATEST_PRODUCER_ID_BLOCK == "/latest_producer_id_block"


def test_persistent_paths_are_those_a_2_8_broker_creates():
    """PERSISTENT_PATHS lists exactly ZkData.PersistentZkPaths of Kafka 2.8."""
    assert set(zkdata.PERSISTENT_PATHS) == {
        "/consumers", "/brokers/ids", "/brokers/topics", "/config/changes", "/admin/delete_topics",
        "/brokers/seqid", "/isr_change_notification", "/latest_producer_id_block", "/log_dir_event_notification",
        "/config/topics", "/config/clients", "/config/users", "/config/brokers", "/config/ips",
    }


def test_sequence_number_extracts_zookeeper_suffix():
    """The sequence suffix is what follows the prefix, from a full path or a child name."""
    assert zkdata.sequence_number("/isr_change_notification/isr_change_0000000042", "isr_change_") == "0000000042"
    assert zkdata.sequence_number("config_change_0000000007", zkdata.CONFIG_CHANGE_PREFIX) == "0000000007"
    with pytest.raises(ValueError):
        zkdata.sequence_number("other_1", "isr_change_")


# --------------------------------------------------------------------------- broker registration

GOLDEN_BROKER_V5 = (
    b'{"version":5,"host":"localhost","port":9092,"endpoints":["PLAINTEXT://localhost:9092",'
    b'"REPLICATION://localhost:9093"],"jmx_port":-1,"timestamp":"1620000000000",'
    b'"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","REPLICATION":"PLAINTEXT"},'
    b'"rack":"dc1","features":{}}'
)


def test_encode_broker_registration_v5_golden():
    """A registration built from endpoints encodes to Kafka 2.8's v5 JSON, byte for byte."""
    registration = zkdata.BrokerRegistration.for_endpoints(
        1,
        [zkdata.Endpoint("PLAINTEXT", "localhost", 9092), zkdata.Endpoint("REPLICATION", "localhost", 9093)],
        timestamp=1620000000000,
        rack="dc1",
    )
    assert zkdata.encode_broker_registration(registration) == GOLDEN_BROKER_V5


def test_decode_broker_registration_v5():
    """Decoding v5 JSON yields endpoints, the protocol map, rack, jmx port and timestamp."""
    registration = zkdata.decode_broker_registration(GOLDEN_BROKER_V5, broker_id=1)
    assert registration.broker_id == 1
    assert registration.version == 5
    assert registration.endpoints == ("PLAINTEXT://localhost:9092", "REPLICATION://localhost:9093")
    assert registration.listener_security_protocol_map == {"PLAINTEXT": "PLAINTEXT", "REPLICATION": "PLAINTEXT"}
    assert registration.rack == "dc1"
    assert registration.jmx_port == -1
    assert registration.timestamp == 1620000000000
    assert registration.features == {}
    assert registration.endpoint("replication") == zkdata.Endpoint("REPLICATION", "localhost", 9093, "PLAINTEXT")


def test_decode_broker_registration_v4_from_kafka_2_6():
    """A v4 registration (no features, rack absent) from an older broker decodes."""
    data = (
        b'{"listener_security_protocol_map":{"SSL":"SSL","PLAINTEXT":"PLAINTEXT"},'
        b'"endpoints":["PLAINTEXT://h1:9092","SSL://h1:9093"],"jmx_port":9999,"host":"h1",'
        b'"timestamp":"1500000000000","port":9092,"version":4}'
    )
    registration = zkdata.decode_broker_registration(data, broker_id=2)
    assert registration.version == 4
    assert registration.rack is None
    assert registration.features == {}
    assert registration.jmx_port == 9999
    assert [e.security_protocol for e in registration.parsed_endpoints()] == ["PLAINTEXT", "SSL"]


def test_decode_broker_registration_v1_uses_host_and_port():
    """A v1 registration has only host and port, which become one PLAINTEXT endpoint."""
    data = b'{"version":1,"host":"old","port":9092,"jmx_port":-1,"timestamp":"1"}'
    assert zkdata.decode_broker_registration(data).parsed_endpoints() == (
        zkdata.Endpoint("PLAINTEXT", "old", 9092, "PLAINTEXT"),
    )


def test_broker_registration_without_plaintext_has_null_host():
    """With no PLAINTEXT listener, host is null and port -1, as Kafka registers it."""
    registration = zkdata.BrokerRegistration.for_endpoints(
        4, [zkdata.Endpoint("SECURE", "h", 9094, "SSL")], timestamp=5
    )
    obj = json.loads(zkdata.encode_broker_registration(registration))
    assert obj["host"] is None
    assert obj["port"] == -1
    assert obj["listener_security_protocol_map"] == {"SECURE": "SSL"}
    assert "rack" not in obj


def test_endpoint_parse_and_format_ipv6_and_empty_host():
    """Endpoints round-trip bracketed IPv6 hosts and empty (all-interfaces) hosts."""
    endpoint = zkdata.Endpoint.parse("PLAINTEXT://[::1]:9092")
    assert endpoint == zkdata.Endpoint("PLAINTEXT", "::1", 9092, "PLAINTEXT")
    assert endpoint.connection_string == "PLAINTEXT://[::1]:9092"
    assert zkdata.Endpoint.parse("plaintext://:9092").host == ""
    with pytest.raises(ValueError, match="security protocol"):
        zkdata.Endpoint.parse("INTERNAL://h:1")
    with pytest.raises(ValueError, match="parse"):
        zkdata.Endpoint.parse("garbage")


@pytest.mark.parametrize("data, problem", [
    (b"not json", "malformed JSON"),
    (b"[1,2]", "JSON object"),
    (b'{"version":5,"host":"h","port":1,"jmx_port":-1,"timestamp":"1"}', "endpoints"),
    (b'{"host":"h"}', "version"),
    (b'{"version":2,"endpoints":["PLAINTEXT//h:1"],"jmx_port":-1,"timestamp":"1"}', "parse"),
])
def test_decode_broker_registration_rejects_malformed(data, problem):
    """Malformed registrations raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=problem):
        zkdata.decode_broker_registration(data, broker_id=1)


# --------------------------------------------------------------------------- controller, epoch, cluster id


def test_controller_golden():
    """/controller is {"version":1,"brokerid":..,"timestamp":"<ms>"} and decodes back."""
    data = zkdata.encode_controller(2, 1620000000123)
    assert data == b'{"version":1,"brokerid":2,"timestamp":"1620000000123"}'
    assert zkdata.decode_controller(data) == zkdata.ControllerInfo(2, 1620000000123)
    assert zkdata.decode_controller(b"7").broker_id == 7
    with pytest.raises(ValueError):
        zkdata.decode_controller(b'{"version":1}')


def test_controller_epoch_is_ascii_integer():
    """/controller_epoch is a bare ASCII integer."""
    assert zkdata.encode_controller_epoch(7) == b"7"
    assert zkdata.decode_controller_epoch(b"7") == 7
    with pytest.raises(ValueError, match="controller epoch"):
        zkdata.decode_controller_epoch(b"seven")


def test_cluster_id_golden_with_string_version():
    """/cluster/id carries "version" as the string "1"."""
    data = zkdata.encode_cluster_id("abcdefghijklmnopqrstuv")
    assert data == b'{"version":"1","id":"abcdefghijklmnopqrstuv"}'
    assert zkdata.decode_cluster_id(data) == "abcdefghijklmnopqrstuv"
    with pytest.raises(ValueError, match="'id'"):
        zkdata.decode_cluster_id(b'{"version":"1"}')


def test_uuid_base64_is_22_url_safe_chars_of_a_v4_uuid():
    """Generated ids are 22 chars of URL-safe base64 decoding to a version-4 UUID."""
    for _ in range(50):
        text = zkdata.new_uuid_base64()
        assert len(text) == 22
        assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        raw = base64.urlsafe_b64decode(text + "==")
        assert raw[6] >> 4 == 4
    assert zkdata.new_cluster_id() != zkdata.new_cluster_id()


def test_uuid_base64_redraws_ids_starting_with_dash():
    """An id that would start with '-' is drawn again (CLI tools would read it as an option)."""
    draws = iter([b"\xf8" + bytes(15), b"\x01" * 16])
    text = zkdata.new_topic_id(random_bytes=lambda n: next(draws))
    assert text == base64.urlsafe_b64encode(
        bytes([1, 1, 1, 1, 1, 1, 0x41, 1, 0x81] + [1] * 7)).decode().rstrip("=")


# --------------------------------------------------------------------------- topic assignment and state


def test_topic_assignment_v3_golden():
    """The topic znode is v3 with string partition keys, reassignment maps and topic_id."""
    assignment = zkdata.TopicAssignment(
        partitions={0: [1, 2, 3], 1: [2, 3, 1]}, adding_replicas={1: [3]}, topic_id="MTIzNDU2Nzg5MDEyMzQ1Ng"
    )
    data = zkdata.encode_topic_assignment(assignment)
    assert data == (
        b'{"version":3,"partitions":{"0":[1,2,3],"1":[2,3,1]},"adding_replicas":{"1":[3]},'
        b'"removing_replicas":{},"topic_id":"MTIzNDU2Nzg5MDEyMzQ1Ng"}'
    )
    decoded = zkdata.decode_topic_assignment(data)
    assert decoded.partitions == {0: (1, 2, 3), 1: (2, 3, 1)}
    assert decoded.adding_replicas == {1: (3,)}
    assert decoded.removing_replicas == {}
    assert decoded.topic_id == "MTIzNDU2Nzg5MDEyMzQ1Ng"


def test_topic_assignment_hand_written_v1_decodes():
    """An operator's hand-written {"version":1,"partitions":{"0":[1]}} works."""
    decoded = zkdata.decode_topic_assignment(b'{"version":1,"partitions":{"0":[1]}}')
    assert decoded == zkdata.TopicAssignment(partitions={0: (1,)})


def test_topic_assignment_v2_without_topic_id_encodes_v2():
    """Without a topic id the encoder writes version 2 and no topic_id key."""
    obj = json.loads(zkdata.encode_topic_assignment(zkdata.TopicAssignment(partitions={0: [1]})))
    assert obj == {"version": 2, "partitions": {"0": [1]}, "adding_replicas": {}, "removing_replicas": {}}


@pytest.mark.parametrize("data", [
    b'{"version":1,"partitions":{"x":[1]}}',
    b'{"version":1,"partitions":{"0":"1"}}',
    b'{"version":1,"partitions":{"0":[true]}}',
    b'{"version":1,"partitions":[]}',
    b"",
])
def test_topic_assignment_rejects_malformed(data):
    """Bad partition keys or replica lists raise ValueError."""
    with pytest.raises(ValueError, match="topic assignment"):
        zkdata.decode_topic_assignment(data)


def test_partition_state_golden():
    """The state znode is {"version":1,"leader":..,"leader_epoch":..,"isr":[..],"controller_epoch":..}."""
    state = zkdata.PartitionState(leader=1, leader_epoch=4, isr=(1, 2), controller_epoch=7)
    data = zkdata.encode_partition_state(state)
    assert data == b'{"version":1,"leader":1,"leader_epoch":4,"isr":[1,2],"controller_epoch":7}'
    assert zkdata.decode_partition_state(data) == state
    assert zkdata.decode_partition_state(
        b'{"controller_epoch":1,"leader":-1,"version":1,"leader_epoch":0,"isr":[]}'
    ) == zkdata.PartitionState(-1, 0, (), 1)
    with pytest.raises(ValueError, match="leader_epoch"):
        zkdata.decode_partition_state(b'{"version":1,"leader":1,"isr":[1],"controller_epoch":1}')


def test_partition_states_decode_at_once_with_each_malformed_one_in_its_place():
    """Many states decode as one; a malformed znode among them yields its own error, the others decode."""
    good = [zkdata.encode_partition_state(zkdata.PartitionState(p, 1, (p, 2), 3)) for p in range(3)]
    assert zkdata.decode_partition_states(good) == [zkdata.PartitionState(p, 1, (p, 2), 3) for p in range(3)]
    for bad in (b"", b"1],[2", b'{"leader":1}', b'{"version":1,"leader":1,"leader_epoch":0,"isr":[true],'
                b'"controller_epoch":1}', None):
        decoded = zkdata.decode_partition_states([good[0], bad, good[2]])
        assert decoded[0] == zkdata.PartitionState(0, 1, (0, 2), 3)
        assert isinstance(decoded[1], zkdata.ZnodeDataError) and "partition state" in str(decoded[1])
        assert decoded[2] == zkdata.PartitionState(2, 1, (2, 2), 3)
    # Two values in one znode and none in the next would still count as many: each decodes on its own.
    assert [type(d) for d in zkdata.decode_partition_states([good[0] + b"," + good[1], b" "])] == \
        [zkdata.ZnodeDataError, zkdata.ZnodeDataError]


# --------------------------------------------------------------------------- configs


def test_topic_config_golden():
    """Config znodes are {"version":1,"config":{..}} with string values."""
    data = zkdata.encode_topic_config({"cleanup.policy": "compact", "retention.ms": 1000})
    assert data == b'{"version":1,"config":{"cleanup.policy":"compact","retention.ms":"1000"}}'
    assert zkdata.decode_topic_config(data) == {"cleanup.policy": "compact", "retention.ms": "1000"}
    assert zkdata.decode_topic_config(b'{"version":1,"config":{}}') == {}
    assert zkdata.decode_topic_config(b"") == {}
    assert zkdata.decode_topic_config(None) == {}
    assert zkdata.decode_topic_config(b'{"version":1,"config":{"x":true,"y":5}}') == {"x": "true", "y": "5"}
    with pytest.raises(ValueError, match="config"):
        zkdata.decode_topic_config(b'{"version":1,"config":[1]}')


def test_config_change_v2_golden_and_v1_decode():
    """Config change notifications are v2 entity_path; v1 entity_type/entity_name decode too."""
    data = zkdata.encode_config_change("topics", "t")
    assert data == b'{"version":2,"entity_path":"topics/t"}'
    change = zkdata.decode_config_change(data)
    assert (change.entity_type, change.entity_name) == ("topics", "t")
    v1 = zkdata.decode_config_change(b'{"version":1,"entity_type":"brokers","entity_name":"1"}')
    assert v1.entity_path == "brokers/1"
    nested = zkdata.decode_config_change(b'{"version":2,"entity_path":"users/u/clients/c"}')
    assert (nested.entity_type, nested.entity_name) == ("users", "u/clients/c")
    with pytest.raises(ValueError, match="version"):
        zkdata.decode_config_change(b'{"version":3}')


# --------------------------------------------------------------------------- admin and notifications


def test_isr_change_golden():
    """ISR change notifications list {"topic","partition"} objects."""
    data = zkdata.encode_isr_change([("t", 0), ("u", 3)])
    assert data == b'{"version":1,"partitions":[{"topic":"t","partition":0},{"topic":"u","partition":3}]}'
    assert zkdata.decode_isr_change(data) == {("t", 0), ("u", 3)}
    with pytest.raises(ValueError, match="partition"):
        zkdata.decode_isr_change(b'{"version":1,"partitions":[{"topic":"t"}]}')


def test_preferred_replica_election_golden():
    """The preferred replica election znode lists the partitions to elect."""
    data = zkdata.encode_preferred_replica_election([zkdata.TopicPartition("t", 1)])
    assert data == b'{"version":1,"partitions":[{"topic":"t","partition":1}]}'
    assert zkdata.decode_preferred_replica_election(data) == {zkdata.TopicPartition("t", 1)}


def test_reassign_partitions_golden():
    """The legacy reassignment znode maps (topic, partition) to target replicas; extra keys are ignored."""
    data = zkdata.encode_reassign_partitions({("t", 0): [2, 3]})
    assert data == b'{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}'
    assert zkdata.decode_reassign_partitions(data) == {("t", 0): (2, 3)}
    with_log_dirs = b'{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any"]}]}'
    assert zkdata.decode_reassign_partitions(with_log_dirs) == {("t", 0): (1,)}
    with pytest.raises(ValueError, match="replicas"):
        zkdata.decode_reassign_partitions(b'{"version":1,"partitions":[{"topic":"t","partition":0}]}')


def test_log_dir_event_golden():
    """Log dir failure events carry the broker id and event 1."""
    assert zkdata.encode_log_dir_event(3) == b'{"version":1,"broker":3,"event":1}'
    assert zkdata.decode_log_dir_event(b'{"version":1,"broker":3,"event":1}') == 3


def test_producer_id_block_golden_with_string_bounds():
    """The producer id block writes its bounds as strings and reads strings or numbers."""
    block = zkdata.ProducerIdBlock(broker_id=1, block_start=1000, block_end=1999)
    data = zkdata.encode_producer_id_block(block)
    assert data == b'{"version":1,"broker":1,"block_start":"1000","block_end":"1999"}'
    assert zkdata.decode_producer_id_block(data) == block
    assert zkdata.decode_producer_id_block(b'{"version":1,"broker":1,"block_start":0,"block_end":999}') == (
        zkdata.ProducerIdBlock(1, 0, 999)
    )
    with pytest.raises(ValueError, match="block_end"):
        zkdata.decode_producer_id_block(b'{"version":1,"broker":1,"block_start":"0","block_end":"x"}')


def test_next_producer_id_block():
    """Blocks are 1000 ids, contiguous, starting at 0."""
    first = zkdata.next_producer_id_block(None, 2)
    assert first == zkdata.ProducerIdBlock(2, 0, 999)
    assert zkdata.next_producer_id_block(first, 3) == zkdata.ProducerIdBlock(3, 1000, 1999)
    with pytest.raises(ValueError):
        zkdata.next_producer_id_block(zkdata.ProducerIdBlock(1, 0, 2**63 - 2), 1)


def test_consumer_offset_is_ascii_decimal():
    """Legacy consumer offsets are decimal ASCII."""
    assert zkdata.encode_consumer_offset(42) == b"42"
    assert zkdata.decode_consumer_offset(b"42") == 42


# --------------------------------------------------------------------------- topic names


@pytest.mark.parametrize("name", ["t", "my-topic.v1_x", "A" * 249, "__consumer_offsets", "..."])
def test_valid_topic_names(name):
    """Names within Kafka's rules pass."""
    zkdata.validate_topic_name(name)


@pytest.mark.parametrize("name, problem", [
    ("", "empty"),
    (".", '"." or ".."'),
    ("..", '"." or ".."'),
    ("a" * 250, "longer than 249"),
    ("a b", "ASCII alphanumerics"),
    ("tópico", "ASCII alphanumerics"),
    ("a/b", "ASCII alphanumerics"),
])
def test_invalid_topic_names(name, problem):
    """Names breaking a rule raise InvalidTopicError (code 17) naming the rule."""
    with pytest.raises(InvalidTopicError, match=problem.replace(".", r"\.")) as info:
        zkdata.validate_topic_name(name)
    assert info.value.code == 17


def test_topic_collisions():
    """'.' and '_' collide, as in Kafka's Topic.hasCollision."""
    assert zkdata.topics_collide("a.b", "a_b")
    assert not zkdata.topics_collide("a.b", "a-b")
    assert zkdata.has_collision_chars("a_b")
    assert not zkdata.has_collision_chars("ab")


# --------------------------------------------------------------------------- round trips

_broker_ids = st.integers(min_value=0, max_value=2**31 - 1)
_replicas = st.lists(_broker_ids, max_size=5).map(tuple)
_topics = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=20)


@given(st.dictionaries(st.integers(0, 1000), _replicas, max_size=8),
       st.dictionaries(st.integers(0, 1000), _replicas.filter(bool), max_size=3),
       st.one_of(st.none(), st.just(zkdata.new_topic_id())))
def test_topic_assignment_round_trip(partitions, adding, topic_id):
    """Any assignment decodes back to itself."""
    assignment = zkdata.TopicAssignment(partitions=partitions, adding_replicas=adding, topic_id=topic_id)
    decoded = zkdata.decode_topic_assignment(zkdata.encode_topic_assignment(assignment))
    assert decoded.partitions == dict(sorted(partitions.items()))
    assert decoded.adding_replicas == dict(sorted(adding.items()))
    assert decoded.topic_id == topic_id


@given(st.integers(-1, 2**31 - 1), st.integers(0, 2**31 - 1), _replicas, st.integers(0, 2**31 - 1))
def test_partition_state_round_trip(leader, leader_epoch, isr, controller_epoch):
    """Any partition state decodes back to itself."""
    state = zkdata.PartitionState(leader, leader_epoch, isr, controller_epoch)
    data = zkdata.encode_partition_state(state)
    assert zkdata.decode_partition_state(data) == state
    assert data == json.dumps({"version": 1, "leader": leader, "leader_epoch": leader_epoch, "isr": list(isr),
                               "controller_epoch": controller_epoch}, separators=(",", ":")).encode()


@given(_broker_ids, st.lists(st.tuples(st.sampled_from(["PLAINTEXT", "SSL", "INTERNAL"]),
                                       st.sampled_from(["h", "10.0.0.1", "::1", ""]),
                                       st.integers(0, 65535)), max_size=3, unique_by=lambda e: e[0]),
       st.one_of(st.none(), st.text(min_size=1, max_size=5)), st.integers(0, 2**62))
def test_broker_registration_round_trip(broker_id, endpoints, rack, timestamp):
    """Any registration decodes back to the same endpoints, rack and timestamp."""
    parsed = [zkdata.Endpoint(name, host, port, "SASL_SSL" if name == "INTERNAL" else name)
              for name, host, port in endpoints]
    registration = zkdata.BrokerRegistration.for_endpoints(broker_id, parsed, timestamp=timestamp, rack=rack)
    decoded = zkdata.decode_broker_registration(zkdata.encode_broker_registration(registration), broker_id)
    assert decoded == registration
    assert decoded.parsed_endpoints() == tuple(parsed)


@given(st.dictionaries(st.tuples(_topics, st.integers(0, 1000)), _replicas, max_size=5))
def test_reassign_partitions_round_trip(reassignment):
    """Any reassignment decodes back to itself."""
    assert zkdata.decode_reassign_partitions(zkdata.encode_reassign_partitions(reassignment)) == reassignment
