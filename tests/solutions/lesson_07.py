"""Reference solution of lesson 07's exercise (checked by labkit.checks.lesson_07_bound).

The lesson's l07-clicks: events.clicks(300, seed=7, rate=10, users=8) delayed by
arrival_order(disorder=3, seed=1). A 2.5 s bound already loses nothing; in whole seconds: 3.
"""

ANSWER = 3

WRONG_TOO_SMALL = 2  # 3 events still late
WRONG_TOO_BIG = 5  # loses nothing, but waits longer than needed
