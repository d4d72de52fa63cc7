"""Lesson 11, the cheat sheet: the decision chart, labkit's calls next to the real API, and
every default the lab changes next to the real one.

    from labkit import cheatsheet
    cheatsheet.chart()              # Kafka / Kafka Streams / Flink: a picture to follow
    cheatsheet.decide(cheatsheet.NEEDS[0])   # "Kafka": a need walked through the chart
    cheatsheet.api_table()          # labkit call -> kafka-python, PyFlink, Kafka's and Flink's CLIs
    cheatsheet.defaults_table()     # lab default vs real default, from docs/defaults.md

Nothing here is typed twice: the defaults table is docs/defaults.md, read when the cell
runs, and the lessons that use each labkit call are found in the notebooks themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import course, paths
from .panels.base import Picture, new_figure, show

# --- the decision chart ------------------------------------------------------------------

KAFKA, STREAMS, FLINK = "Kafka", "Kafka Streams", "Flink"


@dataclass(frozen=True)
class Question:
    """One diamond of the chart: ``branches`` maps each answer to a tool or the next question."""

    key: str
    text: str
    branches: dict[str, str]


#: The chart, top to bottom (the outline's concepts 4, 3 and 8).
CHART: tuple[Question, ...] = (
    Question("task", "Am I moving data, or processing data?", {"moving": KAFKA, "processing": "engine"}),
    Question(
        "engine",
        "Does it need a pattern (CEP), one event-time clock\n"
        "across partitions, or a source or sink that is not Kafka?",
        {"yes": FLINK, "no": "inside"},
    ),
    Question(
        "inside",
        "Kafka in, Kafka out, inside an application\nyou already run (no cluster)?",
        {"yes": STREAMS, "no": FLINK},
    ),
)

#: What each tool is for, as the chart's boxes say it (with the memory trick).
TOOLS: dict[str, str] = {
    KAFKA: 'store, deliver, replay\n"Where does the data go?"',
    STREAMS: "a library in your app:\nKafka topics in and out",
    FLINK: 'an engine (a cluster): state,\nevent time, windows, CEP\n"What should we do with the data?"',
}


@dataclass(frozen=True)
class Need:
    """A need, and its answers to the chart's questions (only those it reaches)."""

    text: str
    answers: dict[str, str] = field(default_factory=dict)


NEEDS: tuple[Need, ...] = (
    Need("deliver every event to 5 apps, each at its own pace", {"task": "moving"}),
    Need(
        "count clicks per user per minute inside my Java service",
        {"task": "processing", "engine": "no", "inside": "yes"},
    ),
    Need("detect a pattern across a user's payments, by event time", {"task": "processing", "engine": "yes"}),
)


def route(need: Need) -> list[str]:
    """The way ``need`` goes through the chart: each question's answer, then the tool."""
    questions = {q.key: q for q in CHART}
    step, way = CHART[0].key, []
    while step in questions:
        question = questions[step]
        answer = need.answers.get(step)
        if answer not in question.branches:
            raise ValueError(
                f"{need.text!r}: answer {question.text.replace(chr(10), ' ')!r} with one of "
                f"{', '.join(question.branches)} (not {answer!r})"
            )
        way.append(answer)
        step = question.branches[answer]
    return [*way, step]


def decide(need: Need) -> str:
    """The tool the chart gives for ``need``: "Kafka", "Kafka Streams" or "Flink"."""
    return route(need)[-1]


_COLOURS = {KAFKA: "#dbe9f6", STREAMS: "#e6f4e1", FLINK: "#fde8d3", "question": "#ffffff"}


def chart() -> Picture:
    """The decision chart as a picture: three questions, and a tool at each way out."""
    fig = new_figure(9.0, 5.4)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")

    def box(x: float, y: float, text: str, colour: str, *, bold: bool = False, size: float = 9) -> None:
        ax.text(
            x, y, text, ha="center", va="center", fontsize=size, fontweight="bold" if bold else "normal",
            bbox={"boxstyle": "round,pad=0.45", "facecolor": colour, "edgecolor": "#57606a"},
        )  # fmt: skip

    def arrow(start: tuple[float, float], end: tuple[float, float], label: str) -> None:
        ax.annotate("", end, start, arrowprops={"arrowstyle": "->", "color": "#57606a", "lw": 1.2})
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(*mid, f" {label} ", ha="center", va="center", fontsize=8.5, style="italic",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})  # fmt: skip

    q_pos = {"task": (5.0, 5.4), "engine": (6.2, 3.85), "inside": (5.0, 2.3)}
    tool_pos = {KAFKA: (1.6, 3.85), FLINK: (8.6, 0.75), STREAMS: (2.3, 0.75)}
    for question in CHART:
        box(
            *q_pos[question.key],
            question.text,
            _COLOURS["question"],
            size=9.5 if question.key == "task" else 8.5,
        )
    for name, (x, y) in tool_pos.items():
        bold = "$\\bf{" + name.replace(" ", "\\ ") + "}$"  # mathtext: the tool's name in bold
        box(x, y, f"{bold}\n{TOOLS[name]}", _COLOURS[name], size=8.5)
    # the ways out of each question, as CHART says
    ends = {
        ("task", KAFKA): ((4.0, 5.1), (1.8, 4.35)),
        ("task", "engine"): ((5.6, 5.1), (6.2, 4.3)),
        ("engine", FLINK): ((8.4, 3.5), (8.8, 1.45)),
        ("engine", "inside"): ((5.6, 3.4), (5.1, 2.7)),
        ("inside", STREAMS): ((3.6, 2.0), (2.6, 1.3)),
        ("inside", FLINK): ((6.4, 2.0), (8.0, 1.3)),
    }
    for question in CHART:
        for answer, target in question.branches.items():
            arrow(*ends[(question.key, target)], answer)
    footer = (
        "Kafka Streams and Flink both read their streams from Kafka: real systems use Kafka and one of them."
    )
    ax.text(5.0, 0.05, footer, ha="center", fontsize=8, color="#57606a")
    return show(
        fig, None, "decision chart: moving -> Kafka; processing -> Kafka Streams (inside your app) or Flink"
    )


# --- labkit call -> the real API ----------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One labkit call and what to write without labkit.

    ``targets``: where the call lives (``module:Attribute.path``, checked by the tests);
    ``uses``: a regular expression that finds it in a lesson's code.
    """

    call: str
    targets: tuple[str, ...]
    uses: str
    python: str
    cli: str


API: tuple[Call, ...] = (
    Call(
        "`labkit.connect()`",
        ("labkit.lab:connect",),
        r"labkit\.connect\(",
        '`bootstrap_servers="localhost:9092"` in every client',
        "`kafka-storage.sh format --standalone -t <id> -c config/server.properties`, "
        "`kafka-server-start.sh config/server.properties`; Flink: `start-cluster.sh`",
    ),
    Call(
        '`lab.create_topic("clicks", partitions=3, replace=True)`',
        ("labkit.lab:Lab.create_topic",),
        r"lab\.create_topic\(",
        '`KafkaAdminClient(bootstrap_servers=...).create_topics({"clicks": {"num_partitions": 3}})` '
        "(`replace`: `delete_topics` first)",
        "`kafka-topics.sh --bootstrap-server localhost:9092 --create --topic clicks --partitions 3`",
    ),
    Call(
        '`lab.produce("clicks", events, key="user_id")`',
        ("labkit.lab:Lab.produce",),
        r"lab\.produce\(",
        "`p = KafkaProducer(key_serializer=DefaultSerializer(), value_serializer=JsonSerializer())` "
        '(`kafka.serializer`); `p.send("clicks", key=e["user_id"], value=e)` for each event; `p.flush()`',
        "`kafka-console-producer.sh --bootstrap-server localhost:9092 --topic clicks --reader-property "
        "parse.key=true --reader-property key.separator=:`",
    ),
    Call(
        "`lab.producer()`",
        ("labkit.lab:Lab.producer",),
        r"lab\.producer\(",
        '`KafkaProducer(bootstrap_servers=..., acks="all", linger_ms=5, max_block_ms=10000)` + serializers',
        "`kafka-console-producer.sh ... --command-property acks=all`",
    ),
    Call(
        '`lab.read("clicks")`',
        ("labkit.lab:Lab.read",),
        r"lab\.read\(",
        '`KafkaConsumer("clicks", auto_offset_reset="earliest", consumer_timeout_ms=1000)`, each record '
        "into a `pd.DataFrame`",
        "`kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic clicks --from-beginning "
        "--formatter-property print.key=true`",
    ),
    Call(
        '`lab.consumer("clicks", group_id="app")`',
        ("labkit.lab:Lab.consumer",),
        r"lab\.consumer\(",
        '`KafkaConsumer("clicks", group_id="app", auto_offset_reset="earliest", '
        "value_deserializer=JsonSerializer())` (its default: `latest`)",
        "`kafka-console-consumer.sh ... --topic clicks --group app`",
    ),
    Call(
        '`lab.reader("clicks", start=...)`',
        ("labkit.lab:Lab.reader",),
        r"lab\.reader\(",
        '`c.assign([TopicPartition("clicks", p), ...])`, then `c.seek_to_beginning()`, `c.seek(tp, '
        "offset)` or `c.offsets_for_times({tp: ms})`",
        "`kafka-console-consumer.sh ... --partition 0 --offset 42`",
    ),
    Call(
        '`lab.end_offsets("clicks")`',
        ("labkit.lab:Lab.end_offsets",),
        r"lab\.end_offsets\(",
        '`KafkaConsumer().end_offsets([TopicPartition("clicks", p), ...])`',
        "`kafka-get-offsets.sh --bootstrap-server localhost:9092 --topic clicks`",
    ),
    Call(
        '`lab.delete_groups("app")`',
        ("labkit.lab:Lab.delete_groups",),
        r"lab\.delete_groups\(",
        '`KafkaAdminClient(...).delete_groups(["app"])`',
        "`kafka-consumer-groups.sh --bootstrap-server localhost:9092 --delete --group app`",
    ),
    Call(
        "`lab.explore()`",
        ("labkit.lab:Lab.explore",),
        r"\.explore\(",
        '`admin.describe_topics()`, `admin.describe_groups(["app"])`; lag: `consumer.end_offsets(...)` '
        "minus `consumer.committed(tp)`",
        "`kafka-topics.sh --describe`, `kafka-consumer-groups.sh --describe --group app` (lag per "
        "partition), `kafka-metadata-quorum.sh --bootstrap-server localhost:9092 describe --status`",
    ),
    Call(
        "`lab.restart_broker()`",
        ("labkit.lab:Lab.restart_broker",),
        r"lab\.restart_broker\(",
        "-",
        "`kafka-server-stop.sh`, then `kafka-server-start.sh config/server.properties`",
    ),
    Call(
        "`labkit.replication.start()`",
        ("labkit.replication:start",),
        r"replication\.start\(",
        "-",
        "three `kafka-server-start.sh`, each with its own `node.id`, `listeners`, `log.dirs`; "
        "`kafka-topics.sh --create ... --replication-factor 3 --config min.insync.replicas=2`",
    ),
    Call(
        "`%%flink_sql` (a cell of Flink SQL)",
        ("labkit.sql.magic:flink_sql",),
        r"%%flink_sql",
        '`t_env.execute_sql("...")` (PyFlink)',
        "`sql-client.sh`, or `sql-client.sh gateway --endpoint localhost:8083` next to `sql-gateway.sh "
        "start`",
    ),
    Call(
        "`'{lab.flink_bootstrap_servers}'` in SQL",
        ("labkit.lab:Lab.flink_bootstrap_servers",),
        r"flink_bootstrap_servers",
        "the address itself",
        "`'properties.bootstrap.servers' = 'localhost:9092'`",
    ),
    Call(
        '`lab.kafka_table(t_env, "clicks", "user_id STRING, page STRING")`',
        ("labkit.lab:Lab.kafka_table",),
        r"lab\.kafka_table\(",
        "`t_env.execute_sql(\"CREATE TABLE clicks (...) WITH ('connector' = 'kafka', 'topic' = 'clicks', "
        "'properties.bootstrap.servers' = ..., 'format' = 'json', 'scan.startup.mode' = "
        "'earliest-offset')\")`",
        "the same `CREATE TABLE` in `sql-client.sh`",
    ),
    Call(
        "`lab.table_env()`, `lab.stream_env()`",
        ("labkit.lab:Lab.table_env", "labkit.lab:Lab.stream_env"),
        r"lab\.(table|stream)_env\(",
        "`TableEnvironment.create(EnvironmentSettings.in_streaming_mode())`, "
        "`StreamExecutionEnvironment.get_execution_environment()`; the connector via `pipeline.jars` / "
        '`env.add_jars("file:///.../flink-sql-connector-kafka.jar")`',
        "`flink run -py job.py` (plain `python job.py`: a mini-cluster inside that process)",
    ),
    Call(
        '`lab.query(sql, {"clicks": "..."})`',
        ("labkit.lab:Lab.query",),
        r"lab\.query\(",
        "Kafka tables with `'scan.bounded.mode' = 'latest-offset'` in "
        "`EnvironmentSettings.in_batch_mode()`, then `t_env.sql_query(sql).to_pandas()`",
        "`SET 'execution.runtime-mode' = 'batch';` then the `SELECT` in `sql-client.sh`",
    ),
    Call(
        '`job = lab.start(t_env.execute_sql("INSERT ..."))`',
        ("labkit.lab:Lab.start",),
        r"lab\.start\(",
        "`result.get_job_client()`: `.get_job_id()`, `.get_job_status()`; DataStream: "
        '`env.execute_async("name")`',
        "`flink list`; the Web UI's *Running Jobs*",
    ),
    Call(
        "`job.stop()`, `lab.stop_jobs()`",
        ("labkit.flink.jobs:Job.stop", "labkit.lab:Lab.stop_jobs"),
        r"\bjob\.stop\(|stop_jobs\(",
        "`job_client.cancel()`",
        "`flink cancel <job id>` (REST: `PATCH /jobs/<id>`)",
    ),
    Call(
        "`job.view()`, `lab.job_view(job)`",
        ("labkit.flink.jobs:Job.view", "labkit.lab:Lab.job_view"),
        r"\.view\(|job_view\(",
        "REST `GET /jobs/<id>` and its vertices' metrics",
        "the job's page in the Web UI (`http://localhost:8081/#/job/running/<id>/overview`)",
    ),
    Call(
        "`lab.wait_until_running(job)`, `lab.tasks(job)`",
        ("labkit.lab:Lab.wait_until_running", "labkit.lab:Lab.tasks"),
        r"wait_until_running\(|lab\.tasks\(",
        "REST `GET /jobs/<id>` until every vertex says `RUNNING`",
        "the job graph in the Web UI",
    ),
    Call(
        '`lab.flink_api("overview")`, `lab.web_ui`',
        ("labkit.lab:Lab.flink_api", "labkit.lab:Lab.web_ui"),
        r"flink_api\(|lab\.web_ui",
        '`requests.get("http://localhost:8081/overview").json()`',
        "`curl http://localhost:8081/overview`; the Web UI at http://localhost:8081 (the lab's asks for "
        "its certificate)",
    ),
    Call(
        "`lab.trigger_checkpoint(job)`",
        ("labkit.lab:Lab.trigger_checkpoint",),
        r"trigger_checkpoint\(",
        "REST `POST /jobs/<id>/checkpoints`",
        "`flink checkpoint <job id>`; periodic: `SET 'execution.checkpointing.interval' = '10s'`",
    ),
    Call(
        "`lab.kill_taskmanager()`, `lab.start_taskmanager()`",
        ("labkit.lab:Lab.kill_taskmanager", "labkit.lab:Lab.start_taskmanager"),
        r"_taskmanager\(",
        "-",
        "`kill -9 <TaskManager pid>`; `taskmanager.sh start`",
    ),
    Call(
        '`streams.start(lab, "clicks-app", ...)`, `streams.reset(...)`',
        ("labkit.streams:start", "labkit.streams:reset"),
        r"streams\.(start|reset)\(",
        "- (Kafka Streams is Java: `StreamsBuilder`, `new KafkaStreams(topology, props).start()`)",
        "`java -cp <kafka-streams jars> ClickCounts app.properties`; `kafka-streams-application-reset.sh "
        "--bootstrap-server localhost:9092 --application-id clicks-app`",
    ),
)


def lessons_using(pattern: str, root: Path | None = None) -> list[str]:
    """The lessons whose code cells match ``pattern`` (read from the notebooks now)."""
    found = []
    for each in course.LESSONS:
        if each.number == "11":
            continue  # the cheat sheet itself
        path = (root or course.notebooks()) / each.file
        try:
            cells = json.loads(path.read_text())["cells"]
        except (OSError, ValueError):
            continue
        code = "\n".join(course.source(c) for c in cells if c.get("cell_type") == "code")
        if re.search(pattern, code):
            found.append(each.number)
    return found


class Sheet:
    """A table that shows as markdown in a notebook (code, links) and as text elsewhere."""

    def __init__(self, frame: pd.DataFrame, note: str = "") -> None:
        self.frame = frame
        self.note = note

    def __len__(self) -> int:
        return len(self.frame)

    def _repr_markdown_(self) -> str:
        def cell(value: Any) -> str:
            return str(value).replace("|", "\\|").replace("\n", " ")

        head = "| " + " | ".join(self.frame.columns) + " |"
        rule = "|" + "---|" * len(self.frame.columns)
        rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.frame.itertuples(index=False)]
        return "\n".join([head, rule, *rows]) + (f"\n\n{self.note}" if self.note else "")

    def __repr__(self) -> str:
        text = self.frame.to_string(index=False)
        return f"{text}\n{self.note}" if self.note else text


def _links(numbers: list[str]) -> str:
    files = {x.number: x.file for x in course.LESSONS}
    return ", ".join(f"[{n}]({files[n]})" if n in files else n for n in numbers) or "-"


def api_table(root: Path | None = None) -> Sheet:
    """labkit's calls next to plain kafka-python / PyFlink and Kafka's and Flink's command-line
    tools (and REST API), with the lessons whose code uses each call."""
    rows = [(c.call, c.python, c.cli, _links(lessons_using(c.uses, root))) for c in API]
    frame = pd.DataFrame(
        rows, columns=["labkit", "kafka-python / PyFlink", "Kafka's / Flink's tools", "lessons"]
    )
    return Sheet(
        frame, "Kafka's tools are in its download's `bin/` (Kafka 4.4); Flink's in `bin/` of Flink 2.3."
    )


# --- lab default vs real default ----------------------------------------------------------


def defaults_doc() -> Path:
    """docs/defaults.md of this checkout."""
    root = paths.project_root() or course.notebooks().parent
    return root / "docs" / "defaults.md"


_LESSONS_IN = re.compile(r"\blessons?\s+(\d\d[a-z]?(?:(?:\s*,\s*|\s+and\s+)\d\d[a-z]?)*)")


def lessons_named(text: str) -> list[str]:
    """The lesson numbers a sentence names: "lessons 06 and 07" -> ["06", "07"]."""
    found: list[str] = []
    for group in _LESSONS_IN.findall(text):
        found += [n for n in re.findall(r"\d\d[a-z]?", group) if n not in found]
    return found


def _bare(value: str) -> str:
    """A value without code marks and a trailing remark: "`all` (-1)" -> "all"."""
    return re.sub(r"\s*\(.*\)\s*$", "", value).replace("`", "").strip().lower()


def defaults(path: Path | None = None) -> pd.DataFrame:
    """Every row of docs/defaults.md's tables: ``component`` (its section), ``setting``,
    ``lab``, ``real`` (the real default), ``why``, ``lessons`` (those the row or its section
    names) and ``changed`` (False where the page names a setting the lab leaves as it is)."""
    rows: list[dict[str, Any]] = []
    component, section_lessons, header = "", [], False
    for line in (path or defaults_doc()).read_text().splitlines():
        if line.startswith("## "):
            component = re.sub(r"\s*\(.*\)\s*$", "", line[3:]).strip()
            section_lessons = lessons_named(line)
            header = True
            continue
        if not line.startswith("|"):
            header = True  # the next table starts with its header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header or set(line) <= set("|-: "):
            header = False
            continue
        setting, lab, real, why = (cells + [""] * 4)[:4]
        lessons = lessons_named(why) or section_lessons
        if not lessons and why.lower().startswith("the same") and rows:
            # "the same (reasons)": those of the rows above with the same settings, else the row above
            names = set(re.findall(r"`([^`]+)`", setting))
            alike = [r for r in rows if names & set(re.findall(r"`([^`]+)`", r["setting"]))]
            order = [x.number for x in course.LESSONS]
            lessons = sorted(
                {n for r in alike or rows[-1:] for n in r["lessons"]},
                key=lambda n: (n not in order, order.index(n) if n in order else n),
            )
        rows.append({
            "component": component, "setting": setting, "lab": lab, "real": real, "why": why,
            "lessons": lessons, "changed": _bare(lab) != _bare(real),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["component", "setting", "lab", "real", "why", "lessons", "changed"])


def defaults_table(path: Path | None = None) -> Sheet:
    """The defaults the lab changes, one row each, with the lessons that rely on them; the
    settings docs/defaults.md names although the lab keeps them, in one line under it."""
    every = defaults(path)
    changed = every[every["changed"]]
    frame = pd.DataFrame({
        "where": changed["component"], "setting": changed["setting"], "the lab": changed["lab"],
        "the real default": changed["real"], "why": changed["why"], "lessons": changed["lessons"].map(_links),
    })  # fmt: skip
    kept = every[~every["changed"]]
    note = (
        f"{len(changed)} defaults changed. Named in `docs/defaults.md` but the same as the real default: "
        + ", ".join(kept["setting"])
        + "."
    )
    return Sheet(frame, note)


__all__ = [
    "API",
    "CHART",
    "FLINK",
    "KAFKA",
    "NEEDS",
    "STREAMS",
    "Call",
    "Need",
    "Question",
    "Sheet",
    "api_table",
    "chart",
    "decide",
    "defaults",
    "defaults_table",
    "lessons_named",
    "lessons_using",
    "route",
]
