"""The lab's own exceptions: each one says what went wrong *and* what to do about it."""


class LabError(RuntimeError):
    """Base class for errors a learner can act on."""


class BrokerUnavailable(LabError):
    """No Kafka broker answers at the address the lab expects."""


class UnknownTopic(LabError):
    """A topic that does not exist was named."""
