"""The Kafka-named metrics scraped from a real 3-broker cluster: throughput per topic, the
ReplicaManager and controller gauges summed across brokers, per-partition log series that
disappear with a deleted topic, a group's committed offset and lag in kafka_exporter's names
on its coordinator, and under-replicated partitions once a broker stops."""

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import commit_offset, create_topic, produce_acked
from tests.support.cluster import wait_until

OVERRIDES = {"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "3000"}


def delete_topic(bootstrap, topic):
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: the futures die with their client
    admin.delete_topics([topic], operation_timeout=10)[topic].result(30)


def scrape(broker):
    """``{(name, frozenset(labels.items())): value}`` of one broker's /metrics."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % broker.metrics_port, timeout=10).read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def total(cluster, name, brokers=None, **labels):
    """``name{labels}`` summed over ``brokers`` (default: all), absent series counting 0."""
    return sum(sample(scrape(broker), name, **labels) or 0
               for broker in (brokers or cluster.brokers))


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES, metrics=True)
def test_kafka_named_metrics_on_a_three_broker_cluster(cluster):
    """Produce, check the leader's counters and the cluster-wide gauges, delete a topic (its series go),
    commit a group's offset (its lag appears), stop a broker (the survivors count under-replicated partitions)."""
    bootstrap = cluster.bootstrap
    create_topic(bootstrap, "metered", assignment=[[1, 2, 3], [2, 3, 1], [3, 1, 2]])
    create_topic(bootstrap, "doomed", assignment=[[1, 2]])
    produce_acked(bootstrap, "metered", 30, partition=0)
    produce_acked(bootstrap, "doomed", 10)

    leader = scrape(cluster.broker(1))
    assert sample(leader, "kafka_server_brokertopicmetrics_messagesin_total", topic="metered") == 30
    assert sample(leader, "kafka_server_brokertopicmetrics_messagesin_total") == 40
    assert sample(leader, "kafka_server_brokertopicmetrics_bytesin_total", topic="metered") > 0
    assert sample(leader, "kafka_server_brokertopicmetrics_totalproducerequests_total", topic="metered") >= 3
    assert sample(leader, "kafka_server_brokertopicmetrics_totalfetchrequests_total", topic="metered") > 0
    assert sum(value for (name, labels), value in leader.items()
               if name == "kafka_network_requestmetrics_requests_total" and ("request", "Produce") in labels) > 0
    assert sample(leader, "kafka_network_requestmetrics_totaltimems_count", request="Produce") > 0
    assert sample(leader, "process_cpu_seconds_total") is not None

    wait_until(lambda: total(cluster, "kafka_server_replicamanager_partitioncount") == 11, 30,
               message="11 replicas hosted across the brokers")
    wait_until(lambda: total(cluster, "kafka_server_replicamanager_leadercount") == 4, 30, message="4 leaders")
    assert total(cluster, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert total(cluster, "kafka_server_sessionexpirelistener_sessionstate", sessionstate="CONNECTED") == 3
    assert all(sample(scrape(b), "kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms_count") > 0
               for b in cluster.brokers)
    assert [sample(scrape(b), "kafka_server_kafkaserver_brokerstate") for b in cluster.brokers] == [3, 3, 3]
    assert total(cluster, "kafka_server_brokertopicmetrics_replicationbytesin_total") > 0
    assert total(cluster, "kafka_server_brokertopicmetrics_replicationbytesout_total") > 0
    assert total(cluster, "kafka_server_replicafetchermanager_maxlag", clientId="Replica") >= 0
    # followers fetch in sessions: the leaders of the 4 partitions cache them
    wait_until(lambda: total(cluster, "kafka_server_fetchsessioncache_numincrementalfetchsessions") > 0, 30,
               message="follower fetch sessions cached")
    assert total(cluster, "kafka_controller_kafkacontroller_globalpartitioncount") == 4
    assert total(cluster, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    wait_until(lambda: all((sample(scrape(b), "kafka_log_log_size", topic="metered", partition="0") or 0) > 0
                           for b in cluster.brokers), 30, message="partition 0 replicated to every broker")
    assert sample(scrape(cluster.broker(2)), "kafka_log_log_numlogsegments", topic="doomed", partition="0") == 1

    delete_topic(bootstrap, "doomed")
    wait_until(lambda: all(sample(scrape(cluster.broker(b)), "kafka_log_log_size", topic="doomed", partition="0")
                           is None for b in (1, 2)), 30, message="doomed-0's log series gone from brokers 1 and 2")
    assert sample(scrape(cluster.broker(1)), "kafka_server_brokertopicmetrics_messagesin_total",
                  topic="doomed") is None
    assert sample(scrape(cluster.broker(1)), "kafka_server_brokertopicmetrics_messagesin_total") == 40
    wait_until(lambda: total(cluster, "kafka_server_replicamanager_partitioncount") == 9, 30,
               message="9 replicas once doomed is gone")

    commit_offset(bootstrap, "lagger", "metered", 0, 20)
    wait_until(lambda: total(cluster, "kafka_consumergroup_current_offset",
                             consumergroup="lagger", topic="metered", partition="0") == 20, 30,
               message="the coordinator exports the committed offset")
    assert total(cluster, "kafka_consumergroup_lag", consumergroup="lagger", topic="metered", partition="0") == 10
    assert total(cluster, "kafka_topic_partition_current_offset", topic="metered", partition="0") == 30
    assert total(cluster, "kafka_server_group_coordinator_metrics_offset_commit_count") >= 1
    assert total(cluster, "kafka_coordinator_group_groupmetadatamanager_numgroupsempty") == 1
    assert total(cluster, "kafka_coordinator_group_groupmetadatamanager_numoffsets") == 1

    cluster.broker(3).stop()
    survivors = [cluster.broker(1), cluster.broker(2)]
    wait_until(lambda: sum(total(cluster, "kafka_topic_partition_under_replicated_partition", survivors,
                                 topic="metered", partition=str(p)) for p in range(3)) == 3,
               30, message="the 3 metered partitions under-replicated on the surviving leaders")
    # __consumer_offsets' partitions with a replica on broker 3 count too
    assert total(cluster, "kafka_server_replicamanager_underreplicatedpartitions", survivors) >= 3
    assert total(cluster, "kafka_controller_kafkacontroller_activecontrollercount", survivors) == 1
