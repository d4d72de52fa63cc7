"""Exercise checks: each lesson ends with an exercise whose answer is checked here.

A notebook calls ``checks.lesson_NN_<what>(...)`` and gets a `Result`: a green tick, or a
red cross with a *hint* (what to look at, never the answer)::

    from labkit import checks
    checks.lesson_05_filter(lab, my_sql)

One module per lesson, in lesson order (``lesson_00`` ... ``lesson_10``, with 04b, 08b
and 09b, then lesson 12's project), each saying what its check compares and which notebook
cell calls it; `result` holds `Result`, `passed` and `failed`, `sql` runs a learner's Flink
SQL (lessons 05, 06, 09). The plain-pandas truths the checks compare against are `labkit.reference`'s. The
hidden reference solution of each exercise, which must pass its check, is
``tests/lessons/lesson_NN/solution.py``.

To add a lesson's check: a module ``lesson_NN.py`` with ``lesson_NN_<what>(lab, answer)
-> Result``, re-exported below.
"""

from __future__ import annotations

from ..progress import remembered
from .lesson_00 import LESSON_00_TASKS, lesson_00_roles, lesson_00_trip
from .lesson_01 import lesson_01_produce
from .lesson_02 import lesson_02_order
from .lesson_03 import lesson_03_catch_up, lesson_03_lag, lesson_03_stopped_service
from .lesson_04 import lesson_04_since
from .lesson_04b import lesson_04b_durable
from .lesson_05 import LESSON_05_SCHEMA, lesson_05_filter
from .lesson_06 import LESSON_06_SCHEMA, lesson_06_hop
from .lesson_07 import lesson_07_bound
from .lesson_08 import LESSON_08_RESTARTS, lesson_08_exactly_once
from .lesson_08b import lesson_08b_billing
from .lesson_09 import LESSON_09_ALERTS, LESSON_09_CASES, T09, lesson_09_replay, lesson_09_rows
from .lesson_09b import lesson_09b_orders_once
from .lesson_10 import LESSON_10_TOOLS, LESSON_10_WHY, lesson_10_late, lesson_10_tools
from .lesson_12 import lesson_12_on_your_own
from .result import Result, failed, passed

# A check that passes is remembered (labkit.progress): `labkit progress` shows the course map.
lesson_00_roles = remembered(lesson_00_roles)
lesson_00_trip = remembered(lesson_00_trip)
lesson_01_produce = remembered(lesson_01_produce)
lesson_02_order = remembered(lesson_02_order)
lesson_03_lag = remembered(lesson_03_lag)
lesson_03_catch_up = remembered(lesson_03_catch_up)
lesson_04_since = remembered(lesson_04_since)
lesson_04b_durable = remembered(lesson_04b_durable)
lesson_05_filter = remembered(lesson_05_filter)
lesson_06_hop = remembered(lesson_06_hop)
lesson_07_bound = remembered(lesson_07_bound)
lesson_08_exactly_once = remembered(lesson_08_exactly_once)
lesson_08b_billing = remembered(lesson_08b_billing)
lesson_09_replay = remembered(lesson_09_replay)
lesson_09b_orders_once = remembered(lesson_09b_orders_once)
lesson_10_tools = remembered(lesson_10_tools)
lesson_10_late = remembered(lesson_10_late)
lesson_12_on_your_own = remembered(lesson_12_on_your_own)

__all__ = [
    "Result",
    "passed",
    "failed",
    "LESSON_00_TASKS",
    "lesson_00_roles",
    "lesson_00_trip",
    "lesson_01_produce",
    "lesson_02_order",
    "lesson_03_stopped_service",
    "lesson_03_lag",
    "lesson_03_catch_up",
    "lesson_04_since",
    "lesson_04b_durable",
    "LESSON_05_SCHEMA",
    "lesson_05_filter",
    "LESSON_06_SCHEMA",
    "lesson_06_hop",
    "lesson_07_bound",
    "LESSON_08_RESTARTS",
    "lesson_08_exactly_once",
    "lesson_08b_billing",
    "T09",
    "LESSON_09_CASES",
    "LESSON_09_ALERTS",
    "lesson_09_rows",
    "lesson_09_replay",
    "lesson_09b_orders_once",
    "LESSON_10_TOOLS",
    "LESSON_10_WHY",
    "lesson_10_tools",
    "lesson_10_late",
    "lesson_12_on_your_own",
]
