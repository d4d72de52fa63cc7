"""Reference solution of lesson 07's exercise (checked by labkit.checks.lesson_07_bound).

The lesson's l07-exercise: events.clicks(300, seed=70, rate=10, users=8) delayed by
arrival_order(disorder=6, seed=3), 5 s tumbling windows. With a 4 s bound Flink drops 3
events as late; 5 s loses none. 4.5 s would lose none either, but the question asks for
whole seconds - a near miss the check must reject, not round. The event: one of those a
4 s bound drops (found here with the simulation, which the lesson checks against Flink;
the check asks Flink itself).
"""

from labkit import events
from labkit.reference import arrival_order, watermark_sim

ANSWER = 5

WRONG_TOO_SMALL = 4  # 3 events still late
WRONG_TOO_BIG = 6  # loses nothing, but waits longer than needed (it is the disorder, not the answer)
NEAR_MISS = 4.5  # loses nothing, but is not a whole number of seconds


def exercise_events() -> list[dict]:
    """What the lesson puts in l07-exercise, in arrival order."""
    return arrival_order(events.clicks(300, seed=70, rate=10, users=8), disorder=6, seed=3)


def late_with(bound: float) -> list[str]:
    """The events a ``bound`` drops, as the lesson's simulation computes them."""
    sim = watermark_sim(exercise_events(), bound, 5)[0]
    return list(sim.loc[sim["late"], "event_id"])


def answer_event() -> str:
    """An event that needs the 5th second: one that a 4 s bound drops."""
    return late_with(ANSWER - 1)[0]


def wrong_event() -> str:
    """An event that a 4 s bound keeps: it does not make 5 s necessary."""
    return next(e["event_id"] for e in exercise_events() if e["event_id"] not in late_with(ANSWER - 1))
