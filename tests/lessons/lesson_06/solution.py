"""Reference solution of lesson 06's exercise (checked by labkit.checks.lesson_06_hop)."""

ANSWER = """
SELECT window_start, window_end, device, COUNT(*) AS n
FROM HOP(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '10' SECOND, INTERVAL '20' SECOND)
GROUP BY window_start, window_end, device
"""

# tumbling instead of hopping: windows that do not overlap
WRONG_TUMBLE = """
SELECT window_start, window_end, device, COUNT(*) AS n
FROM TUMBLE(TABLE clicks, DESCRIPTOR(ev_time), INTERVAL '20' SECOND)
GROUP BY window_start, window_end, device
"""

# slide and size swapped
WRONG_SWAPPED = ANSWER.replace(
    "INTERVAL '10' SECOND, INTERVAL '20' SECOND", "INTERVAL '20' SECOND, INTERVAL '10' SECOND"
)
