"""A run as a self-contained JSON record, to travel with the stage results a remote shares.

``record_of`` writes everything the store knows about one run (its row, params, every metric point,
tags, artifacts, lineage by run id); ``import_record`` adds such a run to another store, once: a run
id already there is left alone, so pulling twice, or pulling your own runs back, changes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .models import Artifact, Environment, LineageEdge
from .store import RunStore

RECORD_VERSION = 1


def record_of(store: RunStore, run_id: str) -> dict[str, Any]:
    detail = store.get_run(run_id)
    points = [
        [key, point.step, point.value, point.timestamp]
        for key in sorted(detail.metric_steps)
        for point in store.metric_history(run_id, key)
    ]
    return {
        "version": RECORD_VERSION,
        "run": dataclasses.asdict(detail.run),
        "code": detail.code,
        "environment": dataclasses.asdict(detail.environment),
        "params": detail.params,
        "metrics": points,
        "tags": detail.tags,
        "artifacts": [dataclasses.asdict(a) for a in detail.artifacts],
        "lineage": [dataclasses.asdict(e) for e in detail.lineage],
    }


def import_record(store: RunStore, record: dict[str, Any]) -> bool:
    """Add the run of ``record`` unless the store has it; returns whether it was added. Lineage
    edges to runs this store does not have are left out."""
    if record.get("version") != RECORD_VERSION:
        raise ValueError(f"run record of version {record.get('version')!r}; this version reads {RECORD_VERSION}")
    run = record["run"]
    if store.has_run(run["id"]):
        return False
    with store.transaction():
        store.create_run(
            run["experiment"], environment=Environment(**record["environment"]), stage=run["stage"],
            notebook=run["notebook"], cell_id=run["cell_id"], code=record["code"], code_hash=run["code_hash"],
            fingerprint=run["fingerprint"], start_time=run["start_time"], run_id=run["id"],
        )
        if record["params"]:
            store.log_params(run["id"], record["params"])
        store.log_metric_points([(run["id"], key, step, value, ts) for key, step, value, ts in record["metrics"]])
        if record["tags"]:
            store.set_tags(run["id"], record["tags"])
        for artifact in record["artifacts"]:
            store.add_artifact(run["id"], Artifact(**artifact))
        store.add_lineage(run["id"], [LineageEdge(**e) for e in record["lineage"] if store.has_run(e["upstream_run_id"])])
        if run["status"] != "running":
            store.end_run(run["id"], run["status"], end_time=run["end_time"])
    return True
