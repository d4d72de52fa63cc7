"""Throughput and alert latency of lesson 09's fraud pipeline (Kafka -> Flink -> Kafka).

    .venv/bin/python scripts/bench_fraud.py [--n 20000] [--rate 100] [--seconds 15]
                                            [--engine datastream,windowed,sql]

Each engine runs on fresh ``l09-bench-*`` topics of the running lab, one after the other
in the same run (so a comparison shares the machine's load), prints its figures as one
JSON line - with the machine's load average before and after, since the lab shares its
cores - and deletes its topics. Engines (see labkit.fraud.measure):

* ``datastream`` - the lesson's three-rule DataStream job (Python operators);
* ``windowed``   - the same, with the velocity rule on PyFlink's window operator (the
  same alerts; 4-8x slower than ``datastream`` in process mode, as fast in thread mode);
* ``sql``        - rule 2 alone in Flink SQL (all in the JVM), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os

import labkit
from labkit import fraud
from labkit.fraud.bench import ENGINES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="transactions for the throughput run")
    parser.add_argument("--rate", type=float, default=100.0, help="transactions/s for the latency run")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the latency run")
    parser.add_argument(
        "--engine",
        default="datastream",
        help=f"one or more of {', '.join(ENGINES)}, comma-separated, measured in that order",
    )
    args = parser.parse_args()
    engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        parser.error(f"--engine: {unknown or args.engine!r} is not one of {', '.join(ENGINES)}")
    lab = labkit.connect(quiet=True)
    for engine in engines:
        load_before = os.getloadavg()[0]
        figures = fraud.measure(
            lab, n=args.n, paced_rate=args.rate, paced_seconds=args.seconds, engine=engine
        )
        figures["load_avg_1min"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
