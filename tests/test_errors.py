"""Flink's error messages, short: the wrappers dropped, the position pointed at."""
# ruff: noqa: E501 - a real stack trace, line for line

from __future__ import annotations

from labkit.errors import FlinkSqlError, ShortError, causes_in, flink_message

TRACE = """<Exception on server side:
org.apache.flink.table.gateway.api.utils.SqlGatewayException: org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to fetchResults.
\tat org.apache.flink.table.gateway.rest.handler.statement.FetchResultsHandler.handleRequest(FetchResultsHandler.java:91)
Caused by: org.apache.flink.table.gateway.service.utils.SqlExecutionException: Failed to execute the operation 0634f47c.
\tat org.apache.flink.table.gateway.service.operation.OperationManager$Operation.processThrowable(OperationManager.java:415)
Caused by: org.apache.flink.table.api.ValidationException: SQL validation failed. From line 2, column 8 to line 2, column 11: Column 'nope' not found in any table
Caused by: org.apache.calcite.runtime.CalciteContextException: From line 2, column 8 to line 2, column 11: Column 'nope' not found in any table
Caused by: org.apache.calcite.sql.validate.SqlValidatorException: Column 'nope' not found in any table
\t... 5 more

End of exception on server side>"""

OPTIONS = """org.apache.flink.table.api.ValidationException: Unable to create a source for reading table 'k'.

Table options are:

'connector'='kafka'
\tat org.apache.flink.X.y(X.java:1)
Caused by: org.apache.flink.table.api.ValidationException: Could not find required scan format 'value.format'.
"""


def test_the_wrappers_go_and_calcite_s_repeats_too():
    assert flink_message(causes_in(TRACE)) == (
        "SQL validation failed. From line 2, column 8 to line 2, column 11: Column 'nope' not found in any table"
    )


def test_a_message_over_several_lines_stays_whole_and_every_cause_is_said():
    said = flink_message(causes_in(OPTIONS))
    assert said.splitlines() == [
        "Unable to create a source for reading table 'k'.",
        "Table options are:",
        "'connector'='kafka'",
        "Could not find required scan format 'value.format'.",
    ]


def test_a_cause_from_outside_flink_keeps_its_class_name():
    chain = [
        ("org.apache.flink.runtime.client.JobExecutionException", ""),
        ("java.io.IOException", "disk full"),
    ]
    assert flink_message(chain) == "IOException: disk full"


def test_the_error_points_at_the_line_and_column_without_a_python_traceback():
    error = FlinkSqlError(flink_message(causes_in(TRACE)), "SELECT 1\nSELECT nope FROM t", TRACE)
    assert (error.line, error.column) == (2, 8)
    assert str(error).endswith("\n\n  SELECT nope FROM t\n         ^")
    assert error._render_traceback_() == [f"FlinkSqlError: {error}"]  # what IPython shows
    assert error.details == TRACE  # the whole trace, for whoever wants it


def test_a_short_error_renders_as_its_message():
    assert ShortError("the gateway is down")._render_traceback_() == ["ShortError: the gateway is down"]


def test_a_failed_job_says_its_cause_not_its_wrappers():
    chain = [
        ("java.lang.RuntimeException", "Failed to fetch next result"),
        ("java.io.IOException", "Failed to fetch job execution result"),
        ("org.apache.flink.runtime.client.JobExecutionException", "Job execution failed."),
        ("org.apache.flink.runtime.JobException", "Recovery is suppressed by NoRestartBackoffTimeStrategy"),
        ("java.io.IOException", "Failed to deserialize JSON 'this is not JSON'."),
    ]
    assert flink_message(chain) == "IOException: Failed to deserialize JSON 'this is not JSON'."
