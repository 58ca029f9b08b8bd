"""Golden-byte tests: hand-assembled frames, checked field by field against the Kafka protocol spec.

Each fixture spells out one field per line with a comment; decode and encode must
both agree with it. Also covers the zero-copy contracts: writable ``records``
slices on decode, ``FileRegion`` pieces on encode.
"""

import tempfile

from kafkalite.protocol.apis import API_BY_KEY, ApiKey, pieces_size, pieces_to_bytes
from kafkalite.protocol.headers import decode_request_header, encode_response_frame, encode_response_message
from kafkalite.protocol.regions import FileRegion
from tests.support.golden import hex_bytes as h

API_VERSIONS = API_BY_KEY[ApiKey.API_VERSIONS]
METADATA = API_BY_KEY[ApiKey.METADATA]
PRODUCE = API_BY_KEY[ApiKey.PRODUCE]
FETCH = API_BY_KEY[ApiKey.FETCH]


def test_api_versions_v0_request():
    """ApiVersions v0: request header v1 and an empty body."""
    frame = h("""
        0012        # api_key 18
        0000        # api_version 0
        0000002a    # correlation_id 42
        0002 6b63   # client_id "kc" (int16 length)
    """)
    header = decode_request_header(frame)
    assert header == (18, 0, 42, "kc", 12)
    assert API_VERSIONS.decode_request(frame, 0, header.body_offset) == {
        "client_software_name": "",
        "client_software_version": "",
    }
    assert API_VERSIONS.encode_request_bytes({}, 0) == b""


def test_api_versions_v3_request():
    """ApiVersions v3: request header v2 (classic client_id + tags), compact strings in the body."""
    frame = h(
        """
        0012 0003 00000001  # key 18, version 3, correlation 1
        0003 726466         # client_id "rdf" stays an int16-length string in header v2
        00                  # header tagged fields: none
        0a 6c696272646b61666b61   # client_software_name "librdkafka" (uvarint len+1 = 11? no: 10+1)
        06 322e302e32       # client_software_version "2.0.2" (5+1)
        00                  # body tagged fields: none
    """.replace("0a 6c69", "0b 6c69")
    )
    header = decode_request_header(frame)
    assert (header.api_key, header.api_version, header.client_id, header.body_offset) == (18, 3, "rdf", 14)
    body = API_VERSIONS.decode_request(frame, 3, header.body_offset)
    assert body == {"client_software_name": "librdkafka", "client_software_version": "2.0.2"}


def test_api_versions_error_35_v0_body():
    """The KIP-511 reply to an unknown ApiVersions version: header v0 + v0 body listing ApiVersions 0-3."""
    pieces, size = encode_response_message(
        7,
        ApiKey.API_VERSIONS,
        0,
        {"error_code": 35, "api_keys": [{"api_key": 18, "min_version": 0, "max_version": 3}]},
    )
    assert pieces_to_bytes(pieces) == h("""
        00000007    # correlation_id 7 (response header v0)
        0023        # error_code 35 UNSUPPORTED_VERSION
        00000001    # api_keys: 1 entry
        0012        #   api_key 18
        0000        #   min_version 0
        0003        #   max_version 3
    """)
    assert size == 16


def test_api_versions_v3_response_uses_header_v0_and_tagged_features():
    """ApiVersions v3 response: header v0 despite being flexible; tagged finalized_features_epoch."""
    body = {
        "error_code": 0,
        "api_keys": [{"api_key": 3, "min_version": 0, "max_version": 11}],
        "throttle_time_ms": 0,
        "finalized_features_epoch": 5,
    }
    pieces, size = encode_response_frame(9, ApiKey.API_VERSIONS, 3, body)
    expected = h("""
        0000001d    # frame size 29
        00000009    # correlation_id 9, no header tags (ApiVersions always header v0)
        0000        # error_code 0
        02          # api_keys: compact array of 1
        0003 0000 000b 00   # key 3, min 0, max 11, no tags
        00000000    # throttle_time_ms 0
        01          # body tagged fields: 1
        01 08 0000000000000005  # tag 1 (finalized_features_epoch), size 8, value 5
    """)
    assert pieces_to_bytes(pieces) == expected
    assert size == len(expected)
    decoded = API_VERSIONS.decode_response(expected, 3, 8)
    assert decoded["finalized_features_epoch"] == 5
    assert decoded["supported_features"] == []


def test_metadata_v1_response():
    """Metadata v1 response: rack (nullable), controller_id and is_internal; no throttle, no cluster_id."""
    data = h("""
        00000001        # brokers: 1
        00000001        #   node_id 1
        0001 68         #   host "h"
        00002384        #   port 9092
        ffff            #   rack null
        00000001        # controller_id 1
        00000001        # topics: 1
        0000            #   error_code 0
        0001 74         #   name "t"
        00              #   is_internal false
        00000001        #   partitions: 1
        0000            #     error_code 0
        00000000        #     partition_index 0
        00000001        #     leader_id 1
        00000001 00000001   # replica_nodes [1]
        00000001 00000001   # isr_nodes [1]
    """)
    msg = {
        "brokers": [{"node_id": 1, "host": "h", "port": 9092, "rack": None}],
        "controller_id": 1,
        "topics": [
            {
                "error_code": 0,
                "name": "t",
                "is_internal": False,
                "partitions": [
                    {"error_code": 0, "partition_index": 0, "leader_id": 1, "replica_nodes": [1], "isr_nodes": [1]}
                ],
            }
        ],
    }
    assert METADATA.encode_response_bytes(msg, 1) == data
    decoded = METADATA.decode_response(data, 1)
    assert decoded["cluster_id"] is None  # v2+ only: default
    assert decoded["throttle_time_ms"] == 0
    assert decoded["topics"][0]["partitions"][0]["leader_epoch"] == -1  # v7+ only: Kafka's default
    assert decoded["topics"][0]["partitions"][0]["offline_replicas"] == []


def test_metadata_request_defaults_and_null_topics():
    """Metadata v0 request has a non-nullable topic array; v1+ null means all; v4+ carries auto-creation."""
    v0 = METADATA.decode_request(h("00000000"), 0)  # topics: empty (v0: all topics)
    assert v0["topics"] == [] and v0["allow_auto_topic_creation"] is True
    v1 = METADATA.decode_request(h("ffffffff"), 1)  # topics: null (v1+: all topics)
    assert v1["topics"] is None
    # Encoding None where the version cannot carry null writes an empty array (v0's "all").
    assert METADATA.encode_request_bytes({"topics": None}, 0) == h("00000000")
    v9 = METADATA.decode_request(h("00 00 00 00 00"), 9)  # null topics, auto-create, 2 ops flags, tags
    assert v9["topics"] is None and v9["allow_auto_topic_creation"] is False


PRODUCE_V9_FRAME = h("""
    0000 0009 00000007  # api_key 0 (Produce), version 9, correlation 7
    0001 63             # client_id "c"
    00                  # header tagged fields
    00                  # transactional_id: null compact string
    ffff                # acks -1
    000003e8            # timeout_ms 1000
    02                  # topic_data: compact array of 1
    02 74               #   name "t"
    02                  #   partition_data: 1
    00000000            #     index 0
    05 deadbeef         #     records: compact bytes, 4 bytes
    00                  #     partition tags
    00                  #   topic tags
    00                  # body tags
""")


def test_produce_v9_request_records_are_a_writable_slice():
    """Produce v9 decode: records is a memoryview into the (writable) frame, so the broker can patch it."""
    frame = bytearray(PRODUCE_V9_FRAME)
    header = decode_request_header(frame)
    assert header.api_key == ApiKey.PRODUCE and header.body_offset == 12
    req = PRODUCE.decode_request(frame, header.api_version, header.body_offset)
    assert req["transactional_id"] is None and req["acks"] == -1 and req["timeout_ms"] == 1000
    records = req["topic_data"][0]["partition_data"][0]["records"]
    assert isinstance(records, memoryview) and bytes(records) == b"\xde\xad\xbe\xef"
    records[0:2] = b"\x01\x02"  # in-place rewrite, like assigning a base offset
    assert frame[-7:-5] == b"\x01\x02"


def test_fetch_v11_response_with_file_region():
    """Fetch v11 encode: a FileRegion becomes its own piece between byte pieces; sizes add up."""
    with tempfile.TemporaryFile() as fh:
        fh.write(b"xxxBATCHyy")
        fh.flush()
        region = FileRegion(fh, 3, 5)
        body = {
            "throttle_time_ms": 0,
            "error_code": 0,
            "session_id": 0,
            "responses": [
                {
                    "topic": "t",
                    "partitions": [
                        {
                            "partition_index": 0,
                            "error_code": 0,
                            "high_watermark": 10,
                            "last_stable_offset": 10,
                            "log_start_offset": 0,
                            "aborted_transactions": None,
                            "preferred_read_replica": -1,
                            "records": region,
                        }
                    ],
                }
            ],
        }
        pieces, size = encode_response_message(3, ApiKey.FETCH, 11, body)
        assert len(pieces) == 2 and pieces[1] is region  # nothing follows the last records field
        assert size == pieces_size(pieces)
        assert pieces_to_bytes(pieces) == h("""
            00000003            # correlation_id 3 (response header v0)
            00000000            # throttle_time_ms
            0000                # error_code
            00000000            # session_id
            00000001            # responses: 1
            0001 74             #   topic "t"
            00000001            #   partitions: 1
            00000000            #     partition_index 0
            0000                #     error_code 0
            000000000000000a    #     high_watermark 10
            000000000000000a    #     last_stable_offset 10
            0000000000000000    #     log_start_offset 0
            ffffffff            #     aborted_transactions null
            ffffffff            #     preferred_read_replica -1
            00000005            #     records: 5 bytes
            4241544348          #     "BATCH" (from the file region)
        """)
        two = dict(body, responses=body["responses"] * 2)
        pieces = FETCH.encode_response(two, 11)
        assert [type(p) for p in pieces] == [bytes, FileRegion, bytes, FileRegion]


def test_fetch_v12_response_tagged_diverging_epoch():
    """Fetch v12: diverging_epoch is tagged field 0 of a partition, written only when not default."""
    part = {"partition_index": 1, "high_watermark": 5, "diverging_epoch": {"epoch": 2, "end_offset": 4}}
    data = FETCH.encode_response_bytes({"responses": [{"topic": "t", "partitions": [part]}]}, 12)
    assert data == h("""
        00000000 0000 00000000  # throttle, error_code, session_id
        02 02 74                # responses: 1; topic "t"
        02                      # partitions: 1
        00000001 0000           # partition_index 1, error_code 0
        0000000000000005        # high_watermark 5
        ffffffffffffffff        # last_stable_offset -1 (default)
        ffffffffffffffff        # log_start_offset -1 (default)
        00                      # aborted_transactions: null (compact)
        ffffffff                # preferred_read_replica -1
        00                      # records: null (compact)
        01                      # partition tagged fields: 1
        00 0d                   #   tag 0 (diverging_epoch), 13 bytes
        00000002 0000000000000004 00   # epoch 2, end_offset 4, struct tags
        00                      # topic tags
        00                      # body tags
    """)
    decoded = FETCH.decode_response(data, 12)["responses"][0]["partitions"][0]
    assert decoded["diverging_epoch"] == {"epoch": 2, "end_offset": 4}
    assert decoded["current_leader"] == {"leader_id": -1, "leader_epoch": -1}


def test_unknown_tagged_fields_are_skipped():
    """A tag we do not know (here 7 in the Fetch v12 request body) is skipped on decode."""
    data = bytearray(FETCH.encode_request_bytes({"replica_id": -1, "cluster_id": "c"}, 12))
    assert data[-5:] == h("01 00 02 02 63")  # one tag: 0 (cluster_id), 2 bytes, compact "c"
    data[-5:] = h("02 00 02 02 63 07 03 aabbcc")  # plus unknown tag 7 with 3 bytes
    decoded = FETCH.decode_request(bytes(data), 12)
    assert decoded["cluster_id"] == "c" and decoded["replica_id"] == -1
