"""The run store's schema, as an ordered list of sqlite-utils migrations.

Each step is a plain function of a ``sqlite_utils.Database``; they are kept in
``STEPS`` so the store can tell whether any is pending without importing
sqlite-utils (whose import is slow) on every open. Never edit a released step:
append a new one.

Time columns are integer milliseconds since the epoch (as MLflow stores them).
A metric whose value is NULL is a NaN: SQLite cannot store NaN and turns it
into NULL, so the store makes that mapping explicit; ±inf are stored as is.
"""

from __future__ import annotations

MIGRATION_SET = "mlops_jupyter"


def m001_initial(db) -> None:
    db["experiments"].create(
        {"id": int, "name": str, "created_time": int},
        pk="id",
        not_null={"name", "created_time"},
    )
    db["experiments"].create_index(["name"], unique=True)
    # `num` is the rowid every child row points at (small, fast joins and indexes);
    # `id` is the public run id (32 hex digits, as MLflow's).
    db["runs"].create(
        {
            "num": int,
            "id": str,
            "experiment_id": int,
            "stage": str,
            "notebook": str,
            "cell_id": str,
            "status": str,
            "start_time": int,
            "end_time": int,
            "code": str,
            "code_hash": str,
            "fingerprint": str,
            "python": str,
            "platform": str,
            "packages": str,  # JSON object: distribution -> version
            "git_commit": str,
            "git_dirty": int,
            "host": str,
            "pid": int,
            "pid_start_time": float,  # guards against a reused pid
        },
        pk="num",
        not_null={"id", "experiment_id", "status", "start_time"},
        foreign_keys=[("experiment_id", "experiments", "id")],
    )
    db["runs"].create_index(["id"], unique=True)
    db["runs"].create_index(["status"])
    db["runs"].create_index(["experiment_id", "start_time"])
    db["runs"].create_index(["stage", "start_time"])
    db["runs"].create_index(["start_time"])
    db["runs"].create_index(["fingerprint"])
    # `value` is declared BLOB so SQLite keeps each value's own type
    # (integer, real, text): typed params compare as numbers or as text.
    db["params"].create(
        {"run": int, "key": str, "value": bytes, "type": str},
        pk=("run", "key"),
        not_null={"type"},
        foreign_keys=[("run", "runs", "num")],
    )
    db["metrics"].create(
        {"run": int, "key": str, "step": int, "value": float, "timestamp": int},
        not_null={"run", "key", "step", "timestamp"},
        foreign_keys=[("run", "runs", "num")],
    )
    db["metrics"].create_index(["run", "key", "step"])
    db["latest_metrics"].create(
        {"run": int, "key": str, "value": float, "step": int, "timestamp": int},
        pk=("run", "key"),
        not_null={"step", "timestamp"},
        foreign_keys=[("run", "runs", "num")],
    )
    db["tags"].create(
        {"run": int, "key": str, "value": str},
        pk=("run", "key"),
        not_null={"value"},
        foreign_keys=[("run", "runs", "num")],
    )
    db["artifacts"].create(
        {"run": int, "name": str, "kind": str, "hash": str, "size": int, "mime": str},
        pk=("run", "name"),
        not_null={"kind", "hash", "size"},
        foreign_keys=[("run", "runs", "num")],
    )
    db["lineage"].create(
        {"run": int, "upstream": int, "via": str, "kind": str},
        pk=("run", "upstream", "via"),
        not_null={"kind"},
        foreign_keys=[("run", "runs", "num"), ("upstream", "runs", "num")],
    )


def m002_search_indexes(db) -> None:
    """Indexes that let filters on a metric, param or tag start from the key, and covering
    indexes that give a page of runs its params, latest metrics and tags without touching
    the tables."""
    db["latest_metrics"].create_index(["key", "value"])
    db["params"].create_index(["key"])
    db["tags"].create_index(["key", "value"])
    db["params"].create_index(["run", "key", "value", "type"])
    db["latest_metrics"].create_index(["run", "key", "value"])
    db["tags"].create_index(["run", "key", "value"])
    db["lineage"].create_index(["upstream"])
    db["artifacts"].create_index(["kind", "name", "hash"])


def m003_stage_cache(db) -> None:
    """The stat cache of hashed files and the cache of stage results."""
    db["stat_cache"].create(
        {"path": str, "inode": int, "mtime_ns": int, "size": int, "hash": str},
        pk="path",
        not_null={"inode", "mtime_ns", "size", "hash"},
    )
    # manifest: the object holding the stage's outputs, variables and out files.
    db["stage_cache"].create(
        {"fingerprint": str, "stage": str, "run": int, "manifest": str, "seconds": float, "created_time": int},
        pk="fingerprint",
        not_null={"stage", "manifest", "created_time"},
        foreign_keys=[("run", "runs", "num")],
    )
    db["stage_cache"].create_index(["stage", "created_time"])


def m004_param_values_index(db) -> None:
    """Filters on a param's value (``params.seed = 3``) go straight to the matching rows; the
    index also serves everything the key-only one did."""
    db["params"].create_index(["key", "value"])
    db.execute("DROP INDEX IF EXISTS idx_params_key")


def m005_run_summaries(db) -> None:
    """Each run's params and latest metrics also as one JSON object on its row (see ``summaries``).
    The covering indexes that served page reads go."""
    from .summaries import COLUMNS, rebuild

    nums = [num for (num,) in db.execute("SELECT num FROM runs")]
    for table, column in COLUMNS.items():
        db["runs"].add_column(column, str)
        for start in range(0, len(nums), 10_000):
            rebuild(db.conn, table, nums[start : start + 10_000])
    db.execute("DROP INDEX IF EXISTS idx_params_run_key_value_type")
    db.execute("DROP INDEX IF EXISTS idx_latest_metrics_run_key_value")


def m006_stage_cache_origin(db) -> None:
    """Which remote a stage cache entry was pulled from (NULL: made here), for the trust rule of
    pickled variables."""
    db["stage_cache"].add_column("origin", str)


def m007_pipeline_stages_index(db) -> None:
    """The stages of each notebook without reading every run: what the experiment view starts from
    (``experiments``: which stages are sinks, and their runs)."""
    db["runs"].create_index(["stage", "notebook"])


def m008_experiment_summaries(db) -> None:
    """Each ended run's experiment (its lineage's params and metrics) as one JSON object on its row
    (see ``experiment_summaries``)."""
    from .experiment_summaries import COLUMN, refresh

    db["runs"].add_column(COLUMN, str)
    refresh(db.conn, [num for (num,) in db.execute("SELECT num FROM runs WHERE status != 'running'")])


def m009_model_registry(db) -> None:
    """The model registry (see ``registry``): models logged by runs, registered models, their
    versions, tags and aliases, and the history of every change."""
    for statement in filter(str.strip, """
    CREATE TABLE logged_models (run INTEGER NOT NULL REFERENCES runs(num), name TEXT NOT NULL, flavor TEXT NOT NULL,
        hash TEXT NOT NULL, size INTEGER NOT NULL, signature TEXT, info TEXT NOT NULL, created_time INTEGER NOT NULL,
        PRIMARY KEY (run, name));
    CREATE TABLE registered_models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
        created_time INTEGER NOT NULL, updated_time INTEGER NOT NULL);
    CREATE TABLE model_versions (id INTEGER PRIMARY KEY, model INTEGER NOT NULL REFERENCES registered_models(id),
        version INTEGER NOT NULL, run INTEGER NOT NULL REFERENCES runs(num), artifact TEXT NOT NULL,
        stage TEXT NOT NULL DEFAULT 'None', description TEXT, created_time INTEGER NOT NULL, UNIQUE (model, version));
    CREATE INDEX idx_model_versions_run ON model_versions (run);
    CREATE TABLE registered_model_tags (model INTEGER NOT NULL REFERENCES registered_models(id), key TEXT NOT NULL,
        value TEXT, PRIMARY KEY (model, key));
    CREATE TABLE model_version_tags (version_id INTEGER NOT NULL REFERENCES model_versions(id), key TEXT NOT NULL,
        value TEXT, PRIMARY KEY (version_id, key));
    CREATE TABLE model_aliases (model INTEGER NOT NULL REFERENCES registered_models(id), alias TEXT NOT NULL,
        version_id INTEGER NOT NULL REFERENCES model_versions(id), PRIMARY KEY (model, alias));
    CREATE TABLE model_history (id INTEGER PRIMARY KEY, model INTEGER NOT NULL REFERENCES registered_models(id),
        version INTEGER, action TEXT NOT NULL, what TEXT, old TEXT, new TEXT, user TEXT NOT NULL, time INTEGER NOT NULL);
    CREATE INDEX idx_model_history_model ON model_history (model, id);
    """.split(";")):  # one by one: executescript would commit the migration's transaction midway
        db.execute(statement)


def m010_mlflow_sync(db) -> None:
    """What each sync to an MLflow server sent of each run (see ``mlflow_sync``): the next one sends
    only what is new."""
    db.execute("CREATE TABLE mlflow_sync (target TEXT NOT NULL, run INTEGER NOT NULL REFERENCES runs(num),"
               " state TEXT NOT NULL, PRIMARY KEY (target, run))")


STEPS = (m001_initial, m002_search_indexes, m003_stage_cache, m004_param_values_index, m005_run_summaries,
         m006_stage_cache_origin, m007_pipeline_stages_index, m008_experiment_summaries,
         m009_model_registry, m010_mlflow_sync)
STEP_NAMES = tuple(step.__name__ for step in STEPS)


def migrations():
    """The ``sqlite_utils.migrations.Migrations`` set of ``STEPS``."""
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for step in STEPS:
        migrations(name=step.__name__)(step)
    return migrations
