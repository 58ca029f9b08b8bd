"""Golden bytes of the cluster administration APIs: ElectLeaders, DescribeLogDirs, DescribeCluster.

Hand-assembled from Kafka 2.8's message JSON, one field per line; decode and encode both agree.
"""

from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from tests.support.golden import hex_bytes as h

ELECT_LEADERS = API_BY_KEY[ApiKey.ELECT_LEADERS]
DESCRIBE_LOG_DIRS = API_BY_KEY[ApiKey.DESCRIBE_LOG_DIRS]
DESCRIBE_CLUSTER = API_BY_KEY[ApiKey.DESCRIBE_CLUSTER]


def test_elect_leaders_v0_request_has_no_election_type():
    """v0: topic_partitions (int32 array, nullable) and timeout_ms; no election_type."""
    data = h("""
        00000001            # topic_partitions: 1
        0001 74             #   topic "t"
        00000002 00000000 00000003  # partitions [0, 3]
        0000ea60            # timeout_ms 60000
    """)
    request = {"topic_partitions": [{"topic": "t", "partitions": [0, 3]}], "timeout_ms": 60000}
    assert ELECT_LEADERS.decode_request(data, 0) == {"election_type": 0, **request}
    assert ELECT_LEADERS.encode_request_bytes(request, 0) == data


def test_elect_leaders_v2_request_null_partitions():
    """v2 (flexible): election_type int8, a null compact array means every partition."""
    data = h("""
        01          # election_type 1 (unclean)
        00          # topic_partitions: null (compact length 0)
        00002710    # timeout_ms 10000
        00          # tagged fields
    """)
    assert ELECT_LEADERS.decode_request(data, 2) == {"election_type": 1, "topic_partitions": None,
                                                     "timeout_ms": 10000}


def test_elect_leaders_v1_response():
    """v1: throttle, top-level error_code, then per topic the partition results with messages."""
    response = {"throttle_time_ms": 0, "error_code": 0, "replica_election_results": [
        {"topic": "t", "partition_result": [{"partition_id": 2, "error_code": 84, "error_message": None}]}]}
    data = h("""
        00000000        # throttle_time_ms
        0000            # error_code
        00000001        # replica_election_results: 1
        0001 74         #   topic "t"
        00000001        #   partition_result: 1
        00000002 0054   #     partition_id 2, error_code 84 (ELECTION_NOT_NEEDED)
        ffff            #     error_message null
    """)
    assert ELECT_LEADERS.encode_response_bytes(response, 1) == data
    assert ELECT_LEADERS.decode_response(data, 1) == response


def test_describe_log_dirs_v1_response():
    """v0/v1: per dir its error and path, per partition size, lag and the future flag."""
    response = {"throttle_time_ms": 0, "results": [{"error_code": 0, "log_dir": "/d", "topics": [
        {"name": "t", "partitions": [{"partition_index": 1, "partition_size": 300, "offset_lag": 0,
                                      "is_future_key": False}]}]}]}
    data = h("""
        00000000            # throttle_time_ms
        00000001            # results: 1
        0000 0002 2f64      #   error_code 0, log_dir "/d"
        00000001 0001 74    #   topics: 1, name "t"
        00000001            #   partitions: 1
        00000001            #     partition_index 1
        000000000000012c    #     partition_size 300
        0000000000000000    #     offset_lag 0
        00                  #     is_future_key false
    """)
    assert DESCRIBE_LOG_DIRS.encode_response_bytes(response, 1) == data
    assert DESCRIBE_LOG_DIRS.decode_response(data, 1) == response


def test_describe_cluster_v0_response():
    """v0 (flexible): error, cluster id, controller, brokers with a nullable rack, authorized operations."""
    response = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "cluster_id": "c",
                "controller_id": 2, "brokers": [{"broker_id": 2, "host": "h", "port": 9092, "rack": None}],
                "cluster_authorized_operations": -2147483648}
    data = h("""
        00000000        # throttle_time_ms
        0000            # error_code
        00              # error_message null
        02 63           # cluster_id "c"
        00000002        # controller_id 2
        02              # brokers: 1
        00000002 02 68 00002384 00 00   # broker_id 2, host "h", port 9092, rack null, tags
        80000000        # cluster_authorized_operations INT32_MIN
        00              # tagged fields
    """)
    assert DESCRIBE_CLUSTER.encode_response_bytes(response, 0) == data
    assert DESCRIBE_CLUSTER.decode_response(data, 0) == response
