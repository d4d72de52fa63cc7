"""A stand-in JobManager serving one running job, for the job view's exact tests (its
fixture, ``fake_flink``, is in this folder's conftest.py)."""

from __future__ import annotations

from typing import Any

JOB_ID = "0123456789abcdef0123456789abcdef"
SOURCE, SINK = "a" * 32, "b" * 32


class FakeFlink:
    """One running 2-vertex job whose answers a test edits (``records``, ``status``)."""

    def __init__(self) -> None:
        self.records = 10
        self.status = "RUNNING"
        self.checkpoint = 2  # the last completed checkpoint's id
        self.foreign = False  # answer its details with another job's checkpoint of the same id
        self.failed: dict | None = None  # the last failed checkpoint, as Flink's REST shows it
        self.requests: list[str] = []
        self.address = ""

    def down(self) -> None:
        """Stop answering (set by the fixture)."""

    def answer(self, path: str, query: dict[str, list[str]]) -> Any:
        if path == f"/jobs/{JOB_ID}":
            vertex = lambda vid, name, rin, rout: {  # noqa: E731
                "id": vid, "name": name, "parallelism": 1, "status": self.status,
                "metrics": {"read-records": rin, "write-records": rout},
            }  # fmt: skip
            return {
                "jid": JOB_ID, "name": "fake job", "state": self.status, "start-time": 1, "duration": 65_000,
                "vertices": [
                    vertex(SOURCE, "Source: KafkaSource-default_catalog.default_database.src -> Calc[2]",
                           self.records, self.records),
                    vertex(SINK, "sink[3]: Writer", self.records, 0),
                ],
            }  # fmt: skip
        if path == f"/jobs/{JOB_ID}/plan":
            nodes = [{"id": SOURCE}, {"id": SINK, "inputs": [{"id": SOURCE, "ship_strategy": "REBALANCE"}]}]
            return {"plan": {"nodes": nodes}}
        if path == f"/jobs/{JOB_ID}/checkpoints":
            done = {"id": self.checkpoint, "end_to_end_duration": 30}
            counts = {"completed": self.checkpoint, "failed": 1 if self.failed else 0}
            return {"counts": counts, "latest": {"completed": done, "failed": self.failed}}
        if path == f"/jobs/{JOB_ID}/checkpoints/details/{self.checkpoint}":  # the sink's state grows
            if self.foreign:  # what Flink's REST answers from its cache before its copy of the job catches up
                return {"tasks": {"c" * 32: {"state_size": 7753}}}
            return {"tasks": {SOURCE: {"state_size": 120}, SINK: {"state_size": 1500 * self.checkpoint}}}
        if path.startswith(f"/jobs/{JOB_ID}/vertices/") and path.endswith("/metrics"):
            values = {"0.busyTimeMsPerSecond": "250.0", "0.currentInputWatermark": "1000"}
            if "get" not in query:
                return [{"id": k} for k in values]
            return [{"id": k, "value": v} for k, v in values.items() if k in query["get"][0].split(",")]
        return None
