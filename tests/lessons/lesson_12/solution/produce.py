"""Send every click of a JSON-lines file to a Kafka topic (lesson 12's reference solution).

    python produce.py --bootstrap 127.0.0.1:9092 --topic p12-clicks --file clicks.jsonl

Plain kafka-python: one JSON value per click, keyed by its user_id (a user's clicks stay in
order, in one partition), acks="all" (each send waits for every in-sync replica).
"""

import argparse
import json

from kafka import KafkaProducer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka's address, host:port")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--file", required=True, help="one JSON click per line")
    args = parser.parse_args()

    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap,
        acks="all",
    )
    sent = 0
    with open(args.file) as lines:
        for line in lines:
            if line.strip():
                click = json.loads(line)
                producer.send(args.topic, key=click["user_id"].encode(), value=json.dumps(click).encode())
                sent += 1
    producer.flush()  # every send acknowledged (or an error raised) before we say how many
    producer.close()
    print(f"sent {sent} clicks to {args.topic}")


if __name__ == "__main__":
    main()
