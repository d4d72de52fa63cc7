"""Throughput and alert latency of lesson 09's fraud pipeline (Kafka -> Flink -> Kafka).

    .venv/bin/python scripts/bench_fraud.py [--n 20000] [--rate 100] [--seconds 15] [--engine sql]

Starts the three-rule Flink job on fresh ``l09-bench-*`` topics of the running lab,
measures, prints the figures as JSON and deletes its topics. See labkit.fraud.measure.
"""

from __future__ import annotations

import argparse
import json

import labkit
from labkit import fraud


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="transactions for the throughput run")
    parser.add_argument("--rate", type=float, default=100.0, help="transactions/s for the latency run")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the latency run")
    parser.add_argument(
        "--engine",
        choices=["datastream", "sql"],
        default="datastream",
        help="datastream: the lesson's three-rule job; sql: rule 2 alone in Flink SQL, for comparison",
    )
    args = parser.parse_args()
    lab = labkit.connect(quiet=True)
    figures = fraud.measure(
        lab, n=args.n, paced_rate=args.rate, paced_seconds=args.seconds, engine=args.engine
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
