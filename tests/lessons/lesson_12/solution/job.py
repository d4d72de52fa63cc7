"""Keep the cart and checkout clicks: Kafka -> Flink -> Kafka, exactly once (lesson 12's
reference solution). Submitted with Flink's own client:

    flink run -d -py job.py --bootstrap 127.0.0.1:9092 --input p12-clicks --output p12-cart --group p12
    flink run -d -py job.py ... --jar /path/to/flink-sql-connector-kafka.jar   (a stock Flink)
"""

import argparse
from pathlib import Path

from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka's address as Flink's workers reach it")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True, help="the consumer group whose offsets the job commits")
    parser.add_argument("--jar", help="the Kafka SQL connector jar, if Flink's lib/ lacks it")
    args = parser.parse_args()

    env = StreamExecutionEnvironment.get_execution_environment()
    if args.jar:
        env.add_jars(Path(args.jar).resolve().as_uri())
    # A checkpoint every 3 s: it commits the input offsets to the group and the output's transaction.
    env.enable_checkpointing(3000, CheckpointingMode.EXACTLY_ONCE)
    t_env = StreamTableEnvironment.create(env)

    t_env.execute_sql(f"""
        CREATE TABLE clicks (
          event_id STRING, user_id STRING, page STRING, device STRING, ts BIGINT
        ) WITH (
          'connector' = 'kafka',
          'topic' = '{args.input}',
          'properties.bootstrap.servers' = '{args.bootstrap}',
          'properties.group.id' = '{args.group}',
          'scan.startup.mode' = 'group-offsets',
          'properties.auto.offset.reset' = 'earliest',
          'format' = 'json'
        )""")
    t_env.execute_sql(f"""
        CREATE TABLE cart (event_id STRING, user_id STRING, page STRING) WITH (
          'connector' = 'kafka',
          'topic' = '{args.output}',
          'properties.bootstrap.servers' = '{args.bootstrap}',
          'format' = 'json',
          'sink.delivery-guarantee' = 'exactly-once',
          'sink.transactional-id-prefix' = '{args.group}-cart',
          'properties.transaction.timeout.ms' = '600000'
        )""")
    t_env.execute_sql("""
        INSERT INTO cart
        SELECT event_id, user_id, page FROM clicks WHERE page IN ('/cart', '/checkout')
    """)


if __name__ == "__main__":
    main()
