"""Reference solution of lesson 08's exercise (checked by labkit.checks.lesson_08_exactly_once).

The learner configures the running-total job for a stock Kafka broker whose read_committed
readers need each result within 10 s: a checkpoint interval (Flink's default is no
checkpoints; the lesson triggered its own by hand, 10 minutes apart) and the Kafka sink's
options, with a transaction timeout a stock broker accepts (the lesson's SQL did not set
one). The check runs the job, kills its TaskManager halfway and reads the results with
read_committed: each running count exactly once.
"""

from labkit import events
from labkit.reference import running_totals

INTERVAL = "2 s"
SINK_OPTIONS = {
    "sink.delivery-guarantee": "exactly-once",  # Kafka transactions, committed on each checkpoint
    "sink.transactional-id-prefix": "l08-exercise",  # exactly-once needs a name for them
    # within a stock broker's 15-minute transaction.max.timeout.ms (Flink asks for 1 hour)
    "properties.transaction.timeout.ms": "900000",
}

# Wrong answers and the hint each must get (checked without running a job unless said).
WRONG_AT_LEAST_ONCE = (INTERVAL, {"sink.delivery-guarantee": "at-least-once"})
WRONG_DEFAULT_GUARANTEE = (INTERVAL, {})  # the connector's default is at-least-once
WRONG_NO_CHECKPOINTS = (None, SINK_OPTIONS)
WRONG_NO_PREFIX = (  # Flink rejects it (plans the job)
    INTERVAL,
    {"sink.delivery-guarantee": "exactly-once", "properties.transaction.timeout.ms": "900000"},
)
WRONG_SHORT_TIMEOUT = (INTERVAL, {**SINK_OPTIONS, "properties.transaction.timeout.ms": "1000"})  # < 2 s
WRONG_TIMEOUT_UNIT = (INTERVAL, {**SINK_OPTIONS, "properties.transaction.timeout.ms": "15 min"})
# what the lesson's own cells show, copied: its interval and its sink options
COPIED_FROM_THE_LESSON = (
    "10 min",
    {"sink.delivery-guarantee": "exactly-once", "sink.transactional-id-prefix": "l08-totals-eo"},
)
WRONG_NO_TIMEOUT = (INTERVAL, {k: v for k, v in SINK_OPTIONS.items() if k.startswith("sink.")})
WRONG_FLINK_TIMEOUT = (INTERVAL, {**SINK_OPTIONS, "properties.transaction.timeout.ms": "3600000"})  # > 15 min


def shortcut_balances() -> dict[str, float]:
    """The old exercise's shortcut: answer with the balances (the lesson's `truth`)."""
    return running_totals(events.payments(300, seed=8, accounts=6))
