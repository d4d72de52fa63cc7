"""Reference solution of lesson 05's exercise (checked by labkit.checks.lesson_05_filter)."""

ANSWER = """
SELECT event_id, user_id, page
FROM clicks
WHERE device = 'mobile' AND page LIKE '/product/%'
"""

# what a learner might write first: OR instead of AND (too many rows)
WRONG_OR = ANSWER.replace(" AND ", " OR ")
