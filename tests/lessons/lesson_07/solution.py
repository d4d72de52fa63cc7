"""Reference solution of lesson 07's exercise (checked by labkit.checks.lesson_07_bound).

The lesson's l07-exercise: events.clicks(300, seed=70, rate=10, users=8) delayed by
arrival_order(disorder=6, seed=3), 5 s tumbling windows. With a 4 s bound 3 events come
late; 5 s loses none. 4.5 s would lose none either, but the question asks for whole
seconds - a near miss the check must reject, not round.
"""

from labkit import events
from labkit.reference import arrival_order

ANSWER = 5

WRONG_TOO_SMALL = 4  # 3 events still late
WRONG_TOO_BIG = 6  # loses nothing, but waits longer than needed (it is the disorder, not the answer)
NEAR_MISS = 4.5  # loses nothing, but is not a whole number of seconds


def exercise_events() -> list[dict]:
    """What the lesson puts in l07-exercise, in arrival order."""
    return arrival_order(events.clicks(300, seed=70, rate=10, users=8), disorder=6, seed=3)
