"""Handlers of AlterPartitionReassignments and ListPartitionReassignments (KIP-455).

Both are the controller's, as in Kafka: another broker answers NOT_CONTROLLER (the
Admin clients then look the controller up again). The controller's event loop does the
work (:meth:`KafkaController.alter_partition_reassignments`); the answer comes once every
requested partition's reassignment has started or been refused, not when it completes —
ListPartitionReassignments and the topic's assignment say when it has.
"""

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey

__all__ = ["REASSIGNMENT_API_VERSIONS", "ReassignmentApis"]

#: API key → (min, max) version served (Kafka 2.8's ranges).
REASSIGNMENT_API_VERSIONS = {
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: (0, 0),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: (0, 0),
}


class ReassignmentApis:
    """The reassignment handlers.

    :param controller: this broker's controller (``alter_partition_reassignments``,
        ``list_partition_reassignments``).
    """

    def __init__(self, controller):
        self.controller = controller

    def handlers(self):
        return {
            ApiKey.ALTER_PARTITION_REASSIGNMENTS: self.handle_alter_partition_reassignments,
            ApiKey.LIST_PARTITION_REASSIGNMENTS: self.handle_list_partition_reassignments,
        }

    async def handle_alter_partition_reassignments(self, context, request):
        requested = {}
        for topic in request["topics"]:
            for partition in topic["partitions"]:
                replicas = partition["replicas"]
                requested[(topic["name"], partition["partition_index"])] = (
                    None if replicas is None else tuple(replicas))
        try:
            results = await self.controller.alter_partition_reassignments(requested)
        except errors.KafkaError as error:
            return {"throttle_time_ms": 0, "error_code": error.code, "error_message": error.message,
                    "responses": []}
        responses = []
        for topic in request["topics"]:
            partitions = []
            for partition in topic["partitions"]:
                code, message = results.get((topic["name"], partition["partition_index"]), (0, None))
                partitions.append({"partition_index": partition["partition_index"], "error_code": code,
                                   "error_message": message})
            responses.append({"name": topic["name"], "partitions": partitions})
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "responses": responses}

    async def handle_list_partition_reassignments(self, context, request):
        keys = None
        if request["topics"] is not None:
            keys = [(topic["name"], index) for topic in request["topics"] for index in topic["partition_indexes"]]
        try:
            found = await self.controller.list_partition_reassignments(keys)
        except errors.KafkaError as error:
            return {"throttle_time_ms": 0, "error_code": error.code, "error_message": error.message, "topics": []}
        topics = {}
        for (topic, partition), assignment in sorted(found.items()):
            topics.setdefault(topic, []).append({
                "partition_index": partition, "replicas": list(assignment.replicas),
                "adding_replicas": list(assignment.adding), "removing_replicas": list(assignment.removing)})
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None,
                "topics": [{"name": name, "partitions": partitions} for name, partitions in topics.items()]}
