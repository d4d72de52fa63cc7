"""Reference solution of lesson 08's exercise (checked by labkit.checks.lesson_08_totals).

Each output record carries an account's running total, so the final balance is the last
record per account - however many were replayed."""


def answer(lab, topic: str = "l08-totals") -> dict:
    out = lab.read(topic).sort_values(["partition", "offset"])
    return out.groupby("account_id")["total"].last().to_dict()


def wrong_summed_amounts(lab, topic: str = "l08-totals") -> dict:
    """What a learner might do first: add up the amounts - counting replayed ones twice."""
    out = lab.read(topic)
    return out.groupby("account_id")["amount"].sum().round(2).to_dict()
