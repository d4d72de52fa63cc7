"""A cell of SQL as statements: split, named by what they do, variables filled in.

Splitting is sqlparse's (a semicolon inside a string, a comment or an ``EXECUTE STATEMENT
SET BEGIN ... END`` block does not end a statement). `kind` tells a query (its rows are a
result), a statement that starts a job (INSERT) and the rest (CREATE, SET, SHOW, DESCRIBE,
EXPLAIN...: Flink's answer is a small table).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import sqlparse
from sqlparse import tokens as T

from ..errors import LabError

QUERY, JOB, COMMAND = "query", "job", "command"
#: What `fill` replaces: ``{{`` and ``}}`` (literal braces), ``{name}`` and ``{name.attribute}``.
_PIECE = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")


def split(cell: str) -> list[str]:
    """The statements of ``cell``, each without its final semicolon; comment-only parts dropped."""
    statements = []
    for raw in sqlparse.split(cell, strip_semicolon=False):
        tokens = list(sqlparse.parse(raw)[0].flatten())
        # drop what follows the last real token: whitespace, comments, the semicolon
        while tokens and (
            tokens[-1].is_whitespace or tokens[-1].ttype in T.Comment or tokens[-1].value == ";"
        ):
            tokens.pop()
        if any(not (t.is_whitespace or t.ttype in T.Comment) for t in tokens):
            statements.append("".join(t.value for t in tokens).strip())
    return statements


def first_words(statement: str, n: int = 2) -> list[str]:
    """The first ``n`` keywords or names of a statement, upper case, comments skipped."""
    words = []
    for token in sqlparse.parse(statement)[0].flatten():
        if token.is_whitespace or token.ttype in T.Comment:
            continue
        words.append(token.value.upper())
        if len(words) == n:
            break
    return words


def kind(statement: str) -> str:
    """`QUERY` (SELECT, WITH, VALUES), `JOB` (INSERT, EXECUTE ... INSERT / STATEMENT SET)
    or `COMMAND` (everything else)."""
    words = first_words(statement, 2)
    head = words[0] if words else ""
    if head in ("SELECT", "WITH", "VALUES", "(", "TABLE"):
        return QUERY
    if head == "INSERT" or (head == "EXECUTE" and words[1:] in (["INSERT"], ["STATEMENT"])):
        return JOB
    return COMMAND


def fill(cell: str, namespace: Mapping[str, Any]) -> str:
    """``{name}`` (or ``{name.attribute}``) replaced by that value from ``namespace`` (the
    notebook's variables), so a widget can drive a query; ``{{``/``}}`` are literal braces."""

    def value(match: re.Match) -> str:
        name, *attributes = match.group(1).split(".")
        if name not in namespace:
            raise LabError(
                f"The SQL uses {{{match.group(1)}}}, but this notebook has no variable {name!r}. "
                "Define it in a Python cell first (write {{ and }} for literal braces)."
            )
        found = namespace[name]
        for attribute in attributes:
            found = getattr(found, attribute)
        return str(found)

    def piece(match: re.Match) -> str:
        # one left-to-right pass: a value filled in is never read again, so a password
        # holding "{{" or "{x}" reaches Flink as it is
        return match.group(0)[0] if match.group(1) is None else value(match)

    return _PIECE.sub(piece, cell)


#: Words that make an option's value a secret - Flink's own list (``GlobalConfiguration``'s
#: sensitive keys), which it masks in its error messages but not in ``SHOW CREATE TABLE``.
SECRET_WORDS = ("password", "secret", "token", "apikey", "api-key", "jaas.config", "auth-params",
                "service-key", "basic-auth", "http-headers", "fs.azure.account.key")  # fmt: skip
_OPTION = re.compile(r"('(?P<key>[^'\n]+)'\s*=\s*)'(?:[^']|'')*'")


#: Kafka table options that name a topic, a group or a transactional id: on a shared Kafka
#: (a classroom) they get the learner's prefix (`KafkaHelpers.kafka_name`).
NAMED_OPTIONS = ("topic", "properties.group.id", "sink.transactional-id-prefix")
_NAMED = re.compile(
    r"(?P<head>'(?P<key>"
    + "|".join(re.escape(k) for k in NAMED_OPTIONS)
    + r")'\s*=\s*')(?P<value>(?:[^']|'')*)'"
)


def rename_options(sql: str, rename: Callable[[str], str]) -> str:
    """``sql`` with the value of every `NAMED_OPTIONS` option passed through ``rename``: a
    ``%%flink_sql`` cell's ``'topic' = 'l05-clicks'`` reads the learner's own
    ``learner-01.l05-clicks`` in a classroom, and the cell stays as the lesson wrote it."""

    def named(found: re.Match) -> str:
        value = found.group("value").replace("''", "'")
        return found.group("head") + rename(value).replace("'", "''") + "'"

    return _NAMED.sub(named, sql)


_BOOTSTRAP = re.compile(r"'properties\.bootstrap\.servers'\s*=\s*'(?:[^']|'')*'")


def add_connection(sql: str, options: Mapping[str, str]) -> str:
    """``sql`` with ``options`` (a secured Kafka's TLS and login, as table options) added
    after each Kafka table's ``'properties.bootstrap.servers'`` that has no
    ``'properties.security.protocol'`` of its own: a lesson's ``CREATE TABLE`` reaches a
    classroom's Kafka as the lesson wrote it. Values are SQL-quoted here."""
    if not options or "'properties.security.protocol'" in sql:
        return sql
    added = "".join(f", '{k}' = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in options.items())
    return _BOOTSTRAP.sub(lambda found: found.group(0) + added, sql)


def hide_secrets(text: str) -> str:
    """``text`` with the value of every ``'<key>' = '<value>'`` option whose key names a
    secret replaced by ``'******'``, as Flink itself writes it: what Flink answers (``SHOW
    CREATE TABLE`` of a JDBC table prints its password) reaches the notebook without it."""

    def mask(found: re.Match) -> str:
        secret = any(word in found.group("key").lower() for word in SECRET_WORDS)
        return f"{found.group(1)}'******'" if secret else found.group(0)

    return _OPTION.sub(mask, text)
