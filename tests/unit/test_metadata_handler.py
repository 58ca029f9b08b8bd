"""KafkaApis' Metadata handler before the controller's first UpdateMetadata reached the broker."""

from types import SimpleNamespace

from twisted.internet import defer

from kafkalite.protocol.apis import ApiKey
from kafkalite.replica.metadata_cache import BrokerEndpoint, MetadataCache
from kafkalite.server.apis import KafkaApis


def metadata(controller_id):
    cache = MetadataCache(1)
    cache.register_self([BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9092, 0)])
    config = SimpleNamespace(broker_id=1, broker_rack=None)
    apis = KafkaApis(config, "cluster", replica_manager=None, metadata_cache=cache,
                     controller=SimpleNamespace(active_controller_id=controller_id), group_coordinator=None,
                     topic_admin=None, producer_ids=None)
    context = SimpleNamespace(api_key=ApiKey.METADATA, api_version=9, listener_name="PLAINTEXT")
    return defer.ensureDeferred(apis.handle_metadata(context, {"topics": []})).result


def test_a_broker_that_is_the_controller_says_so_before_its_first_update_metadata():
    """librdkafka's admin client told "no controller" waits minutes before asking again: the broker
    names the controller its own controller component read in /controller."""
    response = metadata(controller_id=1)
    assert [b["node_id"] for b in response["brokers"]] == [1]
    assert response["controller_id"] == 1


def test_a_controller_the_broker_cannot_describe_yet_is_not_named():
    """Broker 2 is controller, but nothing says yet where it listens: no controller rather than one
    the client cannot reach; nobody known at all: no controller either."""
    assert metadata(controller_id=2)["controller_id"] == -1
    assert metadata(controller_id=-1)["controller_id"] == -1
