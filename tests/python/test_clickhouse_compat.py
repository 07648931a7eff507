"""Every ClickHouse DDL migration and every warehouse query runs on both engines Sightline supports:
ClickHouse 18.16 (the local stack's server, through clickhouse-driver on the native port) and current
ClickHouse (26, in-process through chdb). The statements are read from schemas/clickhouse, the same
files the Rust services embed, and split the same way (`;` at a line end, `--` comment lines dropped).
"""

import os
import pathlib
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLICKHOUSE_DIR = ROOT / "schemas" / "clickhouse"


def statements(text):
    """Splits a migration file like sightline_schemas::Migration::statements."""
    out, current = [], []
    for line in text.splitlines():
        code = line.rstrip()
        if not code.strip() or code.lstrip().startswith("--"):
            continue
        if code.endswith(";"):
            current.append(code[:-1])
            out.append("\n".join(current).strip())
            current = []
        else:
            current.append(code)
    if "".join(current).strip():
        out.append("\n".join(current).strip())
    return out


def migrations():
    files = sorted(CLICKHOUSE_DIR.glob("[0-9]*_*.sql"), key=lambda p: int(p.name.split("_")[0]))
    assert files, "no migrations found"
    return files


def queries():
    return sorted((CLICKHOUSE_DIR / "queries").glob("*.sql"))


class ChdbEngine:
    name = "clickhouse-26-chdb"

    def __init__(self):
        import chdb.session

        self.session = chdb.session.Session()
        self.database = "compat_" + uuid.uuid4().hex[:8]

    def setup(self):
        self.session.query(f"CREATE DATABASE {self.database}")
        self.session.query(f"USE {self.database}")

    def execute(self, sql):
        result = self.session.query(sql, "TSV")
        return [line.split("\t") for line in str(result).splitlines()]

    def close(self):
        self.session.query(f"DROP DATABASE IF EXISTS {self.database}")
        self.session.close()


class ServerEngine:
    name = "clickhouse-18.16-server"

    def __init__(self):
        from clickhouse_driver import Client

        port = int(os.environ.get("SIGHTLINE_CLICKHOUSE_TCP_PORT", "19000"))
        self.database = "compat_" + uuid.uuid4().hex[:8]
        self.admin = Client("127.0.0.1", port=port)
        self.client = Client("127.0.0.1", port=port, database=self.database)

    def setup(self):
        self.admin.execute(f"CREATE DATABASE {self.database}")

    def execute(self, sql):
        return [[str(v) for v in row] for row in self.client.execute(sql)]

    def close(self):
        self.admin.execute(f"DROP DATABASE IF EXISTS {self.database}")


@pytest.fixture(params=[ChdbEngine, ServerEngine], ids=lambda c: c.name)
def engine(request):
    engine = request.param()
    engine.setup()
    yield engine
    engine.close()


SAMPLE_EVENT_ID = "5b1e4c1e-2f0a-4a4e-9a3b-0c8f2d7e6a11"


def insert_sample(engine):
    """One event with one match, one best shot and its track, inserted twice (as a replay would).

    `INSERT ... SELECT` rather than `VALUES`: clickhouse-driver sends VALUES data itself.
    """
    for _ in range(2):
        engine.execute(
            "INSERT INTO events (event_id, detection_event_id, schema_version, stream_id, site, capture_time, "
            "capture_ms, track_id, kind, descriptor, matched_list_ids, matched_person_ids, top_similarity) SELECT "
            f"toUUID('{SAMPLE_EVENT_ID}'), toUUID('{SAMPLE_EVENT_ID}'), 1, 'cam-01', 'site-a', "
            "toDateTime(1795168800), 1795168800000, 't1', 'face', [0.6, 0.8], ['list-1'], ['person-1'], 0.9"
        )
        engine.execute(
            "INSERT INTO matches (event_id, capture_time, capture_ms, stream_id, site, list_id, list_name, person_id, "
            "person_external_id, person_display_name, similarity, rank, threshold) SELECT "
            f"toUUID('{SAMPLE_EVENT_ID}'), toDateTime(1795168800), 1795168800000, 'cam-01', 'site-a', "
            "'list-1', 'VIP', 'person-1', 'EXT-1', 'Person One', 0.9, 1, 0.5"
        )
        engine.execute(
            "INSERT INTO best_shot_jpegs (event_id, capture_time, stream_id, jpeg) SELECT "
            f"toUUID('{SAMPLE_EVENT_ID}'), toDateTime(1795168800), 'cam-01', 'jpegbytes'"
        )
        engine.execute(
            "INSERT INTO tracks (track_id, stream_id, site, kind, first_seen, first_seen_ms, last_seen_ms, "
            "report_count, event_id, best_shot_ms, best_list_id, best_list_name, best_person_id, "
            "best_person_external_id, best_person_display_name, best_similarity, matched_list_ids, "
            "matched_person_ids, version) SELECT "
            "'t1', 'cam-01', 'site-a', 'face', toDateTime(1795168800), 1795168800000, 1795168800000, 1, "
            f"toUUID('{SAMPLE_EVENT_ID}'), 1795168800000, 'list-1', 'VIP', 'person-1', 'EXT-1', 'Person One', "
            "0.9, ['list-1'], ['person-1'], 1"
        )


def apply_statement(engine, statement):
    """Runs one migration statement as the services' runner does (`common::warehouse`): a column
    an `ADD COLUMN` finds added already counts as added (ClickHouse 18.16 has no `IF NOT EXISTS`
    there; code 44 on 18.16, 15 on current servers)."""
    try:
        engine.execute(statement)
    except Exception as error:  # each engine raises its own type
        message = str(error)
        added = " ADD COLUMN " in statement.upper() and "already exists" in message
        if not (added and ("Code: 44" in message or "Code: 15" in message)):
            raise


def apply_all(engine):
    engine.execute((CLICKHOUSE_DIR / "queries" / "migration_history_ddl.sql").read_text())
    for path in migrations():
        for statement in statements(path.read_text()):
            apply_statement(engine, statement)
        # Idempotent: every statement can run again after an interrupted migration.
        for statement in statements(path.read_text()):
            apply_statement(engine, statement)


def test_migrations_apply_and_are_idempotent(engine):
    apply_all(engine)
    tables = {row[0] for row in engine.execute("SHOW TABLES")}
    assert {"events", "matches", "best_shot_jpegs", "tracks", "track_hour_sets", "identified_tracks", "event_keys", "schema_migrations"} <= tables
    assert "best_shots" not in tables
    assert "event_index" not in tables
    assert "track_hours" not in tables


def test_replayed_rows_are_visible_once(engine):
    apply_all(engine)
    insert_sample(engine)
    sql = (CLICKHOUSE_DIR / "queries" / "event_counts.sql").read_text()
    assert engine.execute(sql) == [["1", "1"]]


@pytest.mark.parametrize("query", queries(), ids=lambda p: p.stem)
def test_every_query_runs(engine, query):
    apply_all(engine)
    insert_sample(engine)
    sql = bind_example_params(query.read_text())
    if engine.name.endswith("chdb") and "remote('" in sql:
        # chdb runs in-process with no server to reach: the cluster's query reads its own system table
        # (`remote(replicas, system, table)` as `system.table`) instead of every replica's (on 18.16
        # it reaches the local stack's cluster).
        start = sql.index("remote('")
        end = sql.index(")", start)
        table = sql[start:end].rsplit(",", 1)[1].strip()
        sql = sql[:start] + "system." + table + sql[end + 1 :]
    # A file may hold several statements (the erasure's mutations), run in order; the last answers.
    for statement in statements(sql):
        rows = engine.execute(statement)
    expected_first_rows = {
        "top_matched_persons": ["list-1", "VIP", "person-1", "EXT-1", "Person One", "1"],
        "landed_summary": ["site-a", "cam-01", "face", "1", "1"],
        "track_page": [SAMPLE_EVENT_ID, "1795168800000"],
        "report_page": [SAMPLE_EVENT_ID, "1795168800000"],
        "events_by_id": [SAMPLE_EVENT_ID, "cam-01", "site-a", "face", "1795168800000"],
        "export_events": [SAMPLE_EVENT_ID, "cam-01", "site-a", "face", "1795168800000"],
        "event_by_id": [SAMPLE_EVENT_ID, "cam-01", "site-a", "face", "1795168800000"],
        "event_key": ["site-a", "cam-01", "face", "1795168800"],
        "event_matches": [SAMPLE_EVENT_ID, "list-1", "VIP", "person-1", "EXT-1", "Person One"],
        "best_shot": ["jpegbytes", "", "cam-01", ""],
        "timeline": ["1795168800000", "face", "1", "1"],
        "identified_page": [SAMPLE_EVENT_ID, "1795168800000"],
        "identified_persons": ["1795129200000", "site-a", "1", "1"],
        "person_tracks": ["list-1", "person-1", "site-a", "EXT-1", "Person One", "1"],
        "hour_counts": ["1795168800", "site-a", "cam-01", "face", "1", "1", "1795168800000"],
        "hour_set_parts": ["20777"],
        "stream_edges": ["0", "site-a", "cam-01", "face", "1", "1", "1795168800000"],
    }
    if query.stem in expected_first_rows:
        expected = expected_first_rows[query.stem]
        assert rows and rows[0][: len(expected)] == expected, rows
    if query.stem == "content_fingerprint":
        assert [rows[0][0], rows[0][2], rows[0][4], rows[0][6]] == ["1", "1", "1", "1"]
    if query.stem == "track_counts":
        assert rows == [["1", "1", "1"]]


def bind_example_params(sql):
    """Binds a query's `?` parameters, in order, to the example values of its `-- params:` line (the
    sample event's day, ids and filters), as the services bind theirs."""
    header = next((line for line in sql.splitlines() if line.startswith("-- params:")), None)
    if header is None:
        assert "?" not in sql, "a query with parameters needs a `-- params:` line"
        return sql
    values = [value.strip() for value in header.removeprefix("-- params:").split(";")]
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    assert body.count("?") == len(values), f"{body.count('?')} parameters, {len(values)} example values"
    for value in values:
        body = body.replace("?", value, 1)
    return body
