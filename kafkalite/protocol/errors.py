"""Kafka protocol error codes: one exception class per code, each written out so it can be grepped.

Every layer raises these; the request handlers turn them into error codes at
exactly one boundary (``server``). ``ERRORS_BY_CODE`` maps a code back to its
class so that decoded responses can be turned into exceptions too. Codes, names
and retriability are those of ``org.apache.kafka.common.protocol.Errors`` (2.8);
class names are Kafka's exception names with ``Error`` for ``Exception``.
"""

NONE = 0


class KafkaError(Exception):
    """Base class of every protocol error.

    :cvar code: the int16 error code on the wire.
    :cvar name: Kafka's name of the code (``UNKNOWN_TOPIC_OR_PARTITION``).
    :cvar retriable: whether Kafka marks the error as retriable.
    """

    code = -1
    name = "UNKNOWN_SERVER_ERROR"
    retriable = False

    def __init__(self, message=None):
        super().__init__(message or self.name)
        self.message = message


class UnknownServerError(KafkaError):
    """The server hit an unexpected error while handling the request."""
    code, name, retriable = -1, "UNKNOWN_SERVER_ERROR", False


class OffsetOutOfRangeError(KafkaError):
    """The requested offset is outside the range the partition holds."""
    code, name, retriable = 1, "OFFSET_OUT_OF_RANGE", False


class CorruptMessageError(KafkaError):
    """A message failed its CRC check, is too small or is otherwise corrupt."""
    code, name, retriable = 2, "CORRUPT_MESSAGE", True


class UnknownTopicOrPartitionError(KafkaError):
    """This server does not host the topic or partition."""
    code, name, retriable = 3, "UNKNOWN_TOPIC_OR_PARTITION", True


class InvalidFetchSizeError(KafkaError):
    """The requested fetch size is invalid."""
    code, name, retriable = 4, "INVALID_FETCH_SIZE", False


class LeaderNotAvailableError(KafkaError):
    """The partition has no leader right now (an election is in progress)."""
    code, name, retriable = 5, "LEADER_NOT_AVAILABLE", True


class NotLeaderOrFollowerError(KafkaError):
    """This broker is not the leader (or a follower) of the partition."""
    code, name, retriable = 6, "NOT_LEADER_OR_FOLLOWER", True


class RequestTimedOutError(KafkaError):
    """The request timed out."""
    code, name, retriable = 7, "REQUEST_TIMED_OUT", True


class BrokerNotAvailableError(KafkaError):
    """The broker is not available."""
    code, name, retriable = 8, "BROKER_NOT_AVAILABLE", False


class ReplicaNotAvailableError(KafkaError):
    """The replica is not available for the requested partition."""
    code, name, retriable = 9, "REPLICA_NOT_AVAILABLE", True


class MessageTooLargeError(KafkaError):
    """The request included a message larger than the server accepts."""
    code, name, retriable = 10, "MESSAGE_TOO_LARGE", False


class StaleControllerEpochError(KafkaError):
    """The controller moved to another broker (a request of an older controller epoch)."""
    code, name, retriable = 11, "STALE_CONTROLLER_EPOCH", False


class OffsetMetadataTooLargeError(KafkaError):
    """The metadata field of an offset commit is too large."""
    code, name, retriable = 12, "OFFSET_METADATA_TOO_LARGE", False


class NetworkExceptionError(KafkaError):
    """The server disconnected before a response was received."""
    code, name, retriable = 13, "NETWORK_EXCEPTION", True


class CoordinatorLoadInProgressError(KafkaError):
    """The coordinator is loading and cannot serve the request yet."""
    code, name, retriable = 14, "COORDINATOR_LOAD_IN_PROGRESS", True


class CoordinatorNotAvailableError(KafkaError):
    """The coordinator is not available."""
    code, name, retriable = 15, "COORDINATOR_NOT_AVAILABLE", True


class NotCoordinatorError(KafkaError):
    """This broker is not the coordinator of the group or transactional id."""
    code, name, retriable = 16, "NOT_COORDINATOR", True


class InvalidTopicError(KafkaError):
    """The request named an illegal topic (a bad name, or an internal topic where it is not allowed)."""
    code, name, retriable = 17, "INVALID_TOPIC_EXCEPTION", False


class RecordListTooLargeError(KafkaError):
    """The request included a message batch larger than the segment size."""
    code, name, retriable = 18, "RECORD_LIST_TOO_LARGE", False


class NotEnoughReplicasError(KafkaError):
    """Fewer in-sync replicas than min.insync.replicas: the write was refused."""
    code, name, retriable = 19, "NOT_ENOUGH_REPLICAS", True


class NotEnoughReplicasAfterAppendError(KafkaError):
    """The write was appended but fewer in-sync replicas than min.insync.replicas acknowledged it."""
    code, name, retriable = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", True


class InvalidRequiredAcksError(KafkaError):
    """The produce request asked for an acks value other than -1, 0 or 1."""
    code, name, retriable = 21, "INVALID_REQUIRED_ACKS", False


class IllegalGenerationError(KafkaError):
    """The group's generation id does not match the request's."""
    code, name, retriable = 22, "ILLEGAL_GENERATION", False


class InconsistentGroupProtocolError(KafkaError):
    """The member's protocol type or protocols do not match the group's."""
    code, name, retriable = 23, "INCONSISTENT_GROUP_PROTOCOL", False


class InvalidGroupIdError(KafkaError):
    """The group id is empty or null."""
    code, name, retriable = 24, "INVALID_GROUP_ID", False


class UnknownMemberIdError(KafkaError):
    """The coordinator does not know the member id."""
    code, name, retriable = 25, "UNKNOWN_MEMBER_ID", False


class InvalidSessionTimeoutError(KafkaError):
    """The session timeout is outside the broker's group.min/max.session.timeout.ms."""
    code, name, retriable = 26, "INVALID_SESSION_TIMEOUT", False


class RebalanceInProgressError(KafkaError):
    """The group is rebalancing; the member must rejoin."""
    code, name, retriable = 27, "REBALANCE_IN_PROGRESS", False


class InvalidCommitOffsetSizeError(KafkaError):
    """The committing offset data size is not valid."""
    code, name, retriable = 28, "INVALID_COMMIT_OFFSET_SIZE", False


class TopicAuthorizationFailedError(KafkaError):
    """Not authorized to access the topics."""
    code, name, retriable = 29, "TOPIC_AUTHORIZATION_FAILED", False


class GroupAuthorizationFailedError(KafkaError):
    """Not authorized to access the group."""
    code, name, retriable = 30, "GROUP_AUTHORIZATION_FAILED", False


class ClusterAuthorizationFailedError(KafkaError):
    """The cluster authorization failed."""
    code, name, retriable = 31, "CLUSTER_AUTHORIZATION_FAILED", False


class InvalidTimestampError(KafkaError):
    """A record's timestamp is out of the acceptable range."""
    code, name, retriable = 32, "INVALID_TIMESTAMP", False


class UnsupportedSaslMechanismError(KafkaError):
    """The broker does not support the requested SASL mechanism."""
    code, name, retriable = 33, "UNSUPPORTED_SASL_MECHANISM", False


class IllegalSaslStateError(KafkaError):
    """The request is not valid in the current SASL state."""
    code, name, retriable = 34, "ILLEGAL_SASL_STATE", False


class UnsupportedVersionError(KafkaError):
    """The version of the API is not supported."""
    code, name, retriable = 35, "UNSUPPORTED_VERSION", False


class TopicAlreadyExistsError(KafkaError):
    """The topic already exists."""
    code, name, retriable = 36, "TOPIC_ALREADY_EXISTS", False


class InvalidPartitionsError(KafkaError):
    """The number of partitions is invalid."""
    code, name, retriable = 37, "INVALID_PARTITIONS", False


class InvalidReplicationFactorError(KafkaError):
    """The replication factor is invalid."""
    code, name, retriable = 38, "INVALID_REPLICATION_FACTOR", False


class InvalidReplicaAssignmentError(KafkaError):
    """The replica assignment is invalid."""
    code, name, retriable = 39, "INVALID_REPLICA_ASSIGNMENT", False


class InvalidConfigError(KafkaError):
    """A configuration is invalid."""
    code, name, retriable = 40, "INVALID_CONFIG", False


class NotControllerError(KafkaError):
    """This broker is not the controller."""
    code, name, retriable = 41, "NOT_CONTROLLER", True


class InvalidRequestError(KafkaError):
    """The request is malformed or violates a protocol rule (see the error message)."""
    code, name, retriable = 42, "INVALID_REQUEST", False


class UnsupportedForMessageFormatError(KafkaError):
    """The message format version on the broker does not support the request."""
    code, name, retriable = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", False


class PolicyViolationError(KafkaError):
    """The request parameters do not satisfy the configured policy."""
    code, name, retriable = 44, "POLICY_VIOLATION", False


class OutOfOrderSequenceNumberError(KafkaError):
    """The broker received an out-of-order sequence number from an idempotent producer."""
    code, name, retriable = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", False


class DuplicateSequenceNumberError(KafkaError):
    """The broker received a duplicate sequence number."""
    code, name, retriable = 46, "DUPLICATE_SEQUENCE_NUMBER", False


class InvalidProducerEpochError(KafkaError):
    """The producer's epoch is older than the one the broker knows (a zombie producer)."""
    code, name, retriable = 47, "INVALID_PRODUCER_EPOCH", False


class InvalidTxnStateError(KafkaError):
    """The producer attempted a transactional operation in an invalid state."""
    code, name, retriable = 48, "INVALID_TXN_STATE", False


class InvalidProducerIdMappingError(KafkaError):
    """The producer's id does not match its transactional id."""
    code, name, retriable = 49, "INVALID_PRODUCER_ID_MAPPING", False


class InvalidTransactionTimeoutError(KafkaError):
    """The transaction timeout is larger than transaction.max.timeout.ms."""
    code, name, retriable = 50, "INVALID_TRANSACTION_TIMEOUT", False


class ConcurrentTransactionsError(KafkaError):
    """Another transaction operation on this transactional id is still in progress."""
    code, name, retriable = 51, "CONCURRENT_TRANSACTIONS", True


class TransactionCoordinatorFencedError(KafkaError):
    """The transaction coordinator's epoch is older than the one the broker knows."""
    code, name, retriable = 52, "TRANSACTION_COORDINATOR_FENCED", False


class TransactionalIdAuthorizationFailedError(KafkaError):
    """Not authorized to use the transactional id."""
    code, name, retriable = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", False


class SecurityDisabledError(KafkaError):
    """Security features are disabled."""
    code, name, retriable = 54, "SECURITY_DISABLED", False


class OperationNotAttemptedError(KafkaError):
    """The broker did not attempt the operation because another part of the request failed."""
    code, name, retriable = 55, "OPERATION_NOT_ATTEMPTED", False


class KafkaStorageError(KafkaError):
    """The broker failed to read or write its disk (a log directory or file could not be opened)."""
    code, name, retriable = 56, "KAFKA_STORAGE_ERROR", True


class LogDirNotFoundError(KafkaError):
    """The user-specified log directory is not found in the broker config."""
    code, name, retriable = 57, "LOG_DIR_NOT_FOUND", False


class SaslAuthenticationFailedError(KafkaError):
    """SASL authentication failed."""
    code, name, retriable = 58, "SASL_AUTHENTICATION_FAILED", False


class UnknownProducerIdError(KafkaError):
    """The broker has no state for the producer id (its records may have been deleted)."""
    code, name, retriable = 59, "UNKNOWN_PRODUCER_ID", False


class ReassignmentInProgressError(KafkaError):
    """A partition reassignment is in progress."""
    code, name, retriable = 60, "REASSIGNMENT_IN_PROGRESS", False


class DelegationTokenAuthDisabledError(KafkaError):
    """Delegation token feature is not enabled."""
    code, name, retriable = 61, "DELEGATION_TOKEN_AUTH_DISABLED", False


class DelegationTokenNotFoundError(KafkaError):
    """Delegation token is not found on server."""
    code, name, retriable = 62, "DELEGATION_TOKEN_NOT_FOUND", False


class DelegationTokenOwnerMismatchError(KafkaError):
    """Specified principal is not a valid owner or renewer."""
    code, name, retriable = 63, "DELEGATION_TOKEN_OWNER_MISMATCH", False


class DelegationTokenRequestNotAllowedError(KafkaError):
    """Delegation token requests are not allowed on this connection."""
    code, name, retriable = 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", False


class DelegationTokenAuthorizationFailedError(KafkaError):
    """Delegation token authorization failed."""
    code, name, retriable = 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", False


class DelegationTokenExpiredError(KafkaError):
    """Delegation token is expired."""
    code, name, retriable = 66, "DELEGATION_TOKEN_EXPIRED", False


class InvalidPrincipalTypeError(KafkaError):
    """The principal type is not supported."""
    code, name, retriable = 67, "INVALID_PRINCIPAL_TYPE", False


class NonEmptyGroupError(KafkaError):
    """The group is not empty."""
    code, name, retriable = 68, "NON_EMPTY_GROUP", False


class GroupIdNotFoundError(KafkaError):
    """The group id does not exist."""
    code, name, retriable = 69, "GROUP_ID_NOT_FOUND", False


class FetchSessionIdNotFoundError(KafkaError):
    """The fetch session id was not found."""
    code, name, retriable = 70, "FETCH_SESSION_ID_NOT_FOUND", True


class InvalidFetchSessionEpochError(KafkaError):
    """The fetch session epoch is invalid."""
    code, name, retriable = 71, "INVALID_FETCH_SESSION_EPOCH", True


class ListenerNotFoundError(KafkaError):
    """No endpoint for the listener the request came in on exists on the leader broker."""
    code, name, retriable = 72, "LISTENER_NOT_FOUND", True


class TopicDeletionDisabledError(KafkaError):
    """Topic deletion is disabled (delete.topic.enable=false)."""
    code, name, retriable = 73, "TOPIC_DELETION_DISABLED", False


class FencedLeaderEpochError(KafkaError):
    """The request's leader epoch is older than the broker's."""
    code, name, retriable = 74, "FENCED_LEADER_EPOCH", True


class UnknownLeaderEpochError(KafkaError):
    """The request's leader epoch is newer than the broker's."""
    code, name, retriable = 75, "UNKNOWN_LEADER_EPOCH", True


class UnsupportedCompressionTypeError(KafkaError):
    """The requesting client does not support the compression type of the partition."""
    code, name, retriable = 76, "UNSUPPORTED_COMPRESSION_TYPE", False


class StaleBrokerEpochError(KafkaError):
    """The broker epoch has changed (a request meant for an earlier registration)."""
    code, name, retriable = 77, "STALE_BROKER_EPOCH", False


class OffsetNotAvailableError(KafkaError):
    """The leader's high watermark has not caught up since its election; try again."""
    code, name, retriable = 78, "OFFSET_NOT_AVAILABLE", True


class MemberIdRequiredError(KafkaError):
    """JoinGroup needs a member id: rejoin with the one given."""
    code, name, retriable = 79, "MEMBER_ID_REQUIRED", False


class PreferredLeaderNotAvailableError(KafkaError):
    """The preferred leader was not available."""
    code, name, retriable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", True


class GroupMaxSizeReachedError(KafkaError):
    """The group has reached its maximum size."""
    code, name, retriable = 81, "GROUP_MAX_SIZE_REACHED", False


class FencedInstanceIdError(KafkaError):
    """Another consumer with the same group.instance.id has fenced this one."""
    code, name, retriable = 82, "FENCED_INSTANCE_ID", False


class EligibleLeadersNotAvailableError(KafkaError):
    """No eligible leader is available for the partitions."""
    code, name, retriable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", True


class ElectionNotNeededError(KafkaError):
    """The leader election is not needed: the preferred leader already leads."""
    code, name, retriable = 84, "ELECTION_NOT_NEEDED", True


class NoReassignmentInProgressError(KafkaError):
    """No partition reassignment is in progress."""
    code, name, retriable = 85, "NO_REASSIGNMENT_IN_PROGRESS", False


class GroupSubscribedToTopicError(KafkaError):
    """The group is subscribed to the topic, so its offsets cannot be deleted."""
    code, name, retriable = 86, "GROUP_SUBSCRIBED_TO_TOPIC", False


class InvalidRecordError(KafkaError):
    """A record in the batch failed the broker's validation."""
    code, name, retriable = 87, "INVALID_RECORD", False


class UnstableOffsetCommitError(KafkaError):
    """Unstable offsets are pending for the partition."""
    code, name, retriable = 88, "UNSTABLE_OFFSET_COMMIT", True


class ThrottlingQuotaExceededError(KafkaError):
    """The throttling quota has been exceeded."""
    code, name, retriable = 89, "THROTTLING_QUOTA_EXCEEDED", True


class ProducerFencedError(KafkaError):
    """A newer producer with the same transactional id fenced this one."""
    code, name, retriable = 90, "PRODUCER_FENCED", False


class ResourceNotFoundError(KafkaError):
    """A request illegally referred to a resource that does not exist."""
    code, name, retriable = 91, "RESOURCE_NOT_FOUND", False


class DuplicateResourceError(KafkaError):
    """A request illegally referred to the same resource twice."""
    code, name, retriable = 92, "DUPLICATE_RESOURCE", False


class UnacceptableCredentialError(KafkaError):
    """The requested credential would not meet the criteria for acceptability."""
    code, name, retriable = 93, "UNACCEPTABLE_CREDENTIAL", False


class InconsistentVoterSetError(KafkaError):
    """The voter set of a quorum is inconsistent."""
    code, name, retriable = 94, "INCONSISTENT_VOTER_SET", False


class InvalidUpdateVersionError(KafkaError):
    """The given update version was invalid."""
    code, name, retriable = 95, "INVALID_UPDATE_VERSION", False


class FeatureUpdateFailedError(KafkaError):
    """Unable to update finalized features."""
    code, name, retriable = 96, "FEATURE_UPDATE_FAILED", False


class PrincipalDeserializationFailureError(KafkaError):
    """The principal could not be deserialized."""
    code, name, retriable = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", False


class SnapshotNotFoundError(KafkaError):
    """The requested snapshot was not found."""
    code, name, retriable = 98, "SNAPSHOT_NOT_FOUND", False


class PositionOutOfRangeError(KafkaError):
    """The requested position is not greater than or equal to zero."""
    code, name, retriable = 99, "POSITION_OUT_OF_RANGE", False


class UnknownTopicIdError(KafkaError):
    """This server does not know the topic id."""
    code, name, retriable = 100, "UNKNOWN_TOPIC_ID", True


ERRORS_BY_CODE = {cls.code: cls for cls in KafkaError.__subclasses__()}


def error_for_code(code):
    """Return the exception class for ``code`` (``UnknownServerError`` if unknown)."""
    return ERRORS_BY_CODE.get(code, UnknownServerError)


__all__ = ["NONE", "ERRORS_BY_CODE", "KafkaError", "error_for_code",
           *sorted(cls.__name__ for cls in ERRORS_BY_CODE.values())]
