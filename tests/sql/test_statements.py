"""A cell split into statements, named by what they do, with notebook variables filled in."""

from __future__ import annotations

import pytest

from labkit.errors import LabError
from labkit.sql.statements import COMMAND, JOB, QUERY, fill, kind, split


def test_semicolons_in_strings_comments_and_statement_sets_do_not_split():
    cell = """-- a table; for clicks
CREATE TABLE t (a INT) WITH ('topic' = 'a;b');   -- trailing; comment
SELECT a FROM t;
EXECUTE STATEMENT SET BEGIN INSERT INTO x SELECT 1; INSERT INTO y SELECT 2; END;
/* only a comment; */
"""
    assert split(cell) == [
        "-- a table; for clicks\nCREATE TABLE t (a INT) WITH ('topic' = 'a;b')",
        "SELECT a FROM t",
        "EXECUTE STATEMENT SET BEGIN INSERT INTO x SELECT 1; INSERT INTO y SELECT 2; END",
    ]


def test_an_empty_cell_has_no_statements():
    assert split("  -- nothing\n") == []


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT 1", QUERY),
        ("  -- hi\n select * from t", QUERY),
        ("WITH a AS (SELECT 1) SELECT * FROM a", QUERY),
        ("VALUES (1), (2)", QUERY),
        ("INSERT INTO t SELECT 1", JOB),
        ("EXECUTE INSERT INTO t SELECT 1", JOB),
        ("EXECUTE STATEMENT SET BEGIN INSERT INTO t SELECT 1; END", JOB),
        ("CREATE TABLE t (a INT)", COMMAND),
        ("SET 'a' = 'b'", COMMAND),
        ("SHOW TABLES", COMMAND),
        ("EXPLAIN SELECT 1", COMMAND),
        ("DESCRIBE t", COMMAND),
    ],
)
def test_kind(statement, expected):
    assert kind(statement) == expected


class Slider:
    value = 7


def test_variables_and_their_attributes_are_filled_in_and_double_braces_stay():
    sql = "SELECT * FROM t WHERE n > {limit} AND m < {slider.value} AND j = '{{x}}'"
    assert (
        fill(sql, {"limit": 3, "slider": Slider()}) == "SELECT * FROM t WHERE n > 3 AND m < 7 AND j = '{x}'"
    )


def test_an_unknown_variable_is_named():
    with pytest.raises(LabError, match="no variable 'nope'"):
        fill("SELECT {nope}", {})


def test_secret_option_values_are_masked_and_others_kept():
    from labkit.sql.statements import hide_secrets

    shown = """WITH (
  'connector' = 'jdbc',
  'password' = 'p''w d',
  'properties.sasl.jaas.config' = 'org.apache.kafka...ScramLoginModule required password="x";',
  'url' = 'jdbc:postgresql://127.0.0.1:15432/lab'
)"""
    masked = hide_secrets(shown)
    assert "'password' = '******'" in masked and "p''w d" not in masked
    assert "'properties.sasl.jaas.config' = '******'" in masked and "ScramLoginModule" not in masked
    assert "'url' = 'jdbc:postgresql://127.0.0.1:15432/lab'" in masked and "'connector' = 'jdbc'" in masked


def test_rename_options_gives_the_named_options_the_learners_prefix():
    from labkit.sql.statements import rename_options

    sql = (
        "CREATE TABLE t (a INT) WITH ('connector' = 'kafka', 'topic' = 'l05-clicks', "
        "'properties.group.id'='g1', 'sink.transactional-id-prefix' = 'tx', 'format' = 'json', "
        "'topic-pattern' = 'x', 'value.format' = 'topic')"
    )
    renamed = rename_options(sql, lambda n: f"learner-01.{n}")
    assert "'topic' = 'learner-01.l05-clicks'" in renamed
    assert "'properties.group.id'='learner-01.g1'" in renamed
    assert "'sink.transactional-id-prefix' = 'learner-01.tx'" in renamed
    # other options, and a value that merely reads 'topic', stay as written
    assert "'topic-pattern' = 'x'" in renamed and "'value.format' = 'topic'" in renamed
    assert rename_options(sql, lambda n: n) == sql
    # SQL's doubled quotes survive the round trip
    assert rename_options("'topic' = 'it''s'", lambda n: f"p.{n}") == "'topic' = 'p.it''s'"


def test_add_connection_gives_each_kafka_table_the_profiles_login_once():
    from labkit.sql.statements import add_connection

    ddl = (
        "CREATE TABLE a (x INT) WITH ('connector' = 'kafka', 'properties.bootstrap.servers' = 'h:1', "
        "'format' = 'json');\nCREATE TABLE b (x INT) WITH ('connector' = 'print')"
    )
    login = {"properties.security.protocol": "SASL_SSL", "properties.sasl.jaas.config": "m password='it''s'"}
    added = add_connection(ddl, login)
    assert added.count("'properties.security.protocol' = 'SASL_SSL'") == 1  # the Kafka table only
    assert "'h:1', 'properties.security.protocol'" in added and "'print')" in added
    assert "password=''it''''s''" in added  # quoted as a SQL string literal
    assert add_connection(added, login) == added  # a cell that has its own: unchanged
    assert add_connection(ddl, {}) == ddl
