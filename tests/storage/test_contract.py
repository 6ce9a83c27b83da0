"""One contract for every storage engine: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from csms.storage import Database, Stmt, Store, open_database
from csms.storage.database import DatabaseError
from csms.storage.stations import BootInfo, StatusRecord
from csms.storage.transactions import MeterValueRow, StartRequest, StopRequest


async def test_migrations_apply_once(database_url: str) -> None:
    for _ in range(2):
        db = open_database(database_url)
        await db.open()
        names = await db.fetch("SELECT name FROM schema_migrations ORDER BY name")
        await db.close()
        assert names[0]["name"] == "0001_core.sql"
        assert len({n["name"] for n in names}) == len(names)


async def test_group_commit_returns_each_callers_rows(db: Database) -> None:
    await db.write(Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    results = await asyncio.gather(
        *(
            db.write(Stmt("INSERT INTO t (id, v) VALUES ($1, $2) RETURNING id", (i, f"v{i}")))
            for i in range(50)
        )
    )
    assert sorted(r[0][0]["id"] for r in results) == list(range(50))
    # A failing unit fails alone; its batch neighbours commit.
    good = db.write(Stmt("INSERT INTO t (id, v) VALUES ($1, $2)", (100, "ok")))
    bad = db.write(Stmt("INSERT INTO t (id, v) VALUES ($1, $2)", (101, "v1")))
    outcome = await asyncio.gather(good, bad, return_exceptions=True)
    assert not isinstance(outcome[0], Exception) and isinstance(outcome[1], Exception)
    assert await db.fetchval("SELECT count(*) FROM t") == 51
    assert await db.fetchval("SELECT v FROM t WHERE id = $1", 100) == "ok"


async def test_a_batch_with_bad_units_commits_all_the_others_in_order(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await db.write(Stmt("CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    runs: list[int] = []
    real = db._run_batch

    async def counted(units: Any) -> Any:
        runs.append(len(units))
        return await real(units)

    monkeypatch.setattr(db, "_run_batch", counted)
    insert = "INSERT INTO b (id, v) VALUES ($1, $2) RETURNING id"
    writes = [
        Stmt(insert, (1, "a")),
        Stmt(insert, (1, "duplicate key")),  # bad: the unit before it took id 1
        Stmt(insert, (2, "b")),
        Stmt("INSERT INTO b (id, v) VALUES ($1, $2)", [(3, "c"), (4, None)], many=True),  # bad
        Stmt(insert, (5, "e")),
        Stmt("INSERT INTO nowhere (v) VALUES ($1)", ("x",)),  # bad: no such table
        Stmt(insert, (6, "f")),
    ]
    # Queued together, so the writer takes them as one batch.
    outcome = await asyncio.gather(*(db.write(w) for w in writes), return_exceptions=True)
    failed = [i for i, o in enumerate(outcome) if isinstance(o, Exception)]
    assert failed == [1, 3, 5]
    assert [outcome[i][0][0]["id"] for i in (0, 2, 4, 6)] == [1, 2, 5, 6]  # type: ignore[index]
    rows = await db.fetch("SELECT id, v FROM b ORDER BY id")
    assert [(r["id"], r["v"]) for r in rows] == [(1, "a"), (2, "b"), (5, "e"), (6, "f")]
    # Each bad unit costs one more run of the batch without it, not a commit per unit.
    assert runs == [7, 6, 5, 4]


async def test_batch_inserts_of_the_same_sql_commit_together_and_a_bad_one_fails_alone(
    db: Database,
) -> None:
    # Every station's MeterValues is one batch insert of the same SQL: PostgreSQL runs a row of
    # them as one executemany. A bad row in one unit must still fail that unit only.
    await db.write(Stmt("CREATE TABLE m (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    insert = "INSERT INTO m (id, v) VALUES ($1, $2)"
    units = [Stmt(insert, [(10 * i, "a"), (10 * i + 1, "b")], many=True) for i in range(8)]
    units[5] = Stmt(insert, [(50, "a"), (51, None)], many=True)  # bad: v is NOT NULL
    units.insert(3, Stmt("SELECT count(*) AS n FROM m"))  # a reading unit in between
    outcome = await asyncio.gather(*(db.write(u) for u in units), return_exceptions=True)
    failed = [i for i, o in enumerate(outcome) if isinstance(o, Exception)]
    assert failed == [6]  # the bad insert, after the reading unit
    assert outcome[0] == [[]]
    ids = [r["id"] for r in await db.fetch("SELECT id FROM m ORDER BY id")]
    assert ids == [i for unit in (0, 1, 2, 3, 4, 6, 7) for i in (10 * unit, 10 * unit + 1)]


async def test_a_fault_of_the_writer_fails_its_batch_and_the_writer_goes_on(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = db._run_batch

    async def loses_a_result(units: Any) -> Any:
        return (await real(units))[1:]  # one result short: the writer cannot pair them

    monkeypatch.setattr(db, "_run_batch", loses_a_result)
    async with asyncio.timeout(30):
        outcome = await asyncio.gather(
            db.write(Stmt("SELECT 1 AS one")), db.write(Stmt("SELECT 2 AS two")),
            return_exceptions=True,
        )  # fmt: skip
        assert all(isinstance(o, DatabaseError) for o in outcome), outcome
        monkeypatch.setattr(db, "_run_batch", real)
        assert await db.write(Stmt("SELECT 3 AS three")) == [[{"three": 3}]]


async def test_a_stopped_writer_answers_every_waiting_caller(database_url: str) -> None:
    db = open_database(database_url)
    await db.open()
    try:
        writes = [asyncio.ensure_future(db.write(Stmt("SELECT 1 AS one"))) for _ in range(5)]
        await asyncio.sleep(0)  # queued, not yet taken by the writer
        db._writer.cancel()  # type: ignore[union-attr]
        async with asyncio.timeout(30):  # before the fix: waited forever
            outcome = await asyncio.gather(*writes, return_exceptions=True)
            assert all(isinstance(o, DatabaseError) for o in outcome), outcome
            with pytest.raises(DatabaseError):
                await db.write(Stmt("SELECT 1"))
    finally:
        await db.close()


async def test_write_after_close_is_refused(database_url: str) -> None:
    db = open_database(database_url)
    await db.open()
    await db.close()
    with pytest.raises(DatabaseError):
        await db.write(Stmt("SELECT 1"))


async def test_stations_and_status(store: Store) -> None:
    row = await store.stations.create("S1", "pending", 10.0)
    assert row.status == "pending" and not row.online
    assert (await store.stations.create("S1", "accepted", 11.0)).status == "pending"
    await store.stations.record_boot("S1", BootInfo("Alfen BV", "NG920", firmware_version="7"), 12)
    assert await store.stations.set_status("S1", "accepted")
    assert not await store.stations.set_status("NOPE", "accepted")
    for status in ("Preparing", "Charging"):
        await store.stations.record_status(
            "S1", StatusRecord(1, status, "NoError", None, None, None, None), 13
        )
    connectors = await store.stations.connectors("S1")
    assert [(c.connector_id, c.status) for c in connectors] == [(1, "Charging")]
    assert len(await store.stations.status_history("S1")) == 2
    await store.stations.create("S0", "accepted", 13.5)
    await store.stations.record_status(
        "S0", StatusRecord(2, "Available", "NoError", None, None, None, None), 13.5
    )
    every = await store.stations.all_connectors()
    assert [(c.station_id, c.connector_id) for c in every] == [("S0", 2), ("S1", 1)]
    await store.stations.set_online("S1", True, 14)
    await store.stations.mark_all_offline()
    station = await store.stations.get("S1")
    assert station is not None
    assert (station.status, station.model, station.online) == ("accepted", "NG920", False)


async def test_transaction_ids_unique_idempotent_and_energy(store: Store) -> None:
    def start(connector: int, station: str = "S1") -> StartRequest:
        return StartRequest(station, connector, "TAG", 100, "2026-01-01T00:00:00Z", 1.0)

    a, created_a = await store.transactions.start(start(1), 1)
    b, created_b = await store.transactions.start(start(1), 2)
    c, _ = await store.transactions.start(start(1, "S2"), 3)
    assert (a, created_a, created_b) == (b, True, False) and c != a
    stop = StopRequest("S1", a, 600, "2026-01-01T01:00:00Z", 2.0, "Local", None)
    done = await store.transactions.stop(stop, 4)
    assert done is not None and done.energy_wh == 500
    again = await store.transactions.stop(StopRequest("S1", a, 999, "x", 3.0, None, None), 5)
    assert again is not None and again.meter_stop == 600
    assert await store.transactions.stop(StopRequest("S1", -1, 5, "x", 3.0, None, None), 6) is None
    assert [u.transaction_id for u in await store.transactions.unmatched_stops("S1")] == [-1]
    assert [r.id for r in await store.transactions.running()] == [c]
    await store.transactions.add_meter_values(
        [
            MeterValueRow("S1", 1, a, "t", CURRENT_L1, None, 7),
            MeterValueRow("S1", 1, 2**63 - 1, "t", '[{"value": "x", "context": "Other"}]', None, 7),
        ]
    )
    assert [r.numeric for r in await store.transactions.meter_values("S1", a)] == [1.5]
    assert len(await store.transactions.meter_values("S1")) == 2


CURRENT_L1 = '[{"value": "1.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"}]'


async def test_unset_fields_are_stored_as_null(store: Store) -> None:
    """None in a batch insert is NULL on both engines (SQLite binds it through the adapter
    `csms/storage/sqlite.py` registers for NoneType, and gets exact tuples, not the rows)."""
    row = MeterValueRow("S1", 1, None, "t", '[{"value": "7", "unit": "W"}]', None, 1)
    await store.transactions.add_meter_values([row, row._replace(transaction_id=3, energy_wh=7.0)])
    nulls = await store.db.fetchval(
        "SELECT count(*) FROM meter_values WHERE transaction_id IS NULL AND energy_wh IS NULL"
    )
    assert nulls == 1
    stored = [(r.transaction_id, r.numeric) for r in await store.transactions.meter_values("S1")]
    assert stored == [(None, 7.0), (3, 7.0)]


async def test_sampled_values_are_read_back_in_order_up_to_the_limit(store: Store) -> None:
    """Elements of several sampled values each; the limit counts sampled values, not rows."""
    three = '[{"value": "1"}, {"value": "2"}, {"value": "3"}]'
    await store.transactions.add_meter_values(
        [MeterValueRow("S1", 1, 5, f"t{i}", three, None, i) for i in range(3)]
    )
    values = await store.transactions.meter_values("S1", 5, limit=7)
    assert [(r.sampled_at, r.value) for r in values] == [
        ("t0", "1"), ("t0", "2"), ("t0", "3"), ("t1", "1"), ("t1", "2"), ("t1", "3"), ("t2", "1"),
    ]  # fmt: skip
    assert len(await store.transactions.meter_values("S1")) == 9


async def test_id_tags_and_events(store: Store) -> None:
    await store.id_tags.add("T1", 1, "fleet")
    assert await store.id_tags.is_allowed("T1") and not await store.id_tags.is_allowed("T2")
    assert await store.id_tags.remove("T1") and not await store.id_tags.remove("T1")
    await store.events.record("S1", "DataTransfer", {"vendorId": "Alfen BV"}, 1)
    events = await store.events.for_station("S1", "DataTransfer")
    assert events[0].payload == '{"vendorId": "Alfen BV"}'


async def test_postgres_writer_reconnects_after_the_server_drops_it(postgres_url: str) -> None:
    import asyncpg

    from tests.support.databases import POSTGRES_URL

    db = open_database(postgres_url)
    await db.open()
    try:
        await db.write(Stmt("CREATE TABLE r (v INTEGER)"))
        writer = db._writer_conn  # type: ignore[attr-defined]
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", writer.get_server_pid())
        finally:
            await admin.close()
        await db.write(Stmt("INSERT INTO r (v) VALUES ($1)", (1,)))
        assert await db.fetchval("SELECT count(*) FROM r") == 1
    finally:
        await db.close()


def _asyncpg_error(name: str) -> BaseException:
    import asyncpg

    if name == "DataError (client side)":
        return asyncpg.exceptions._base.DataError("invalid input for query argument $1")
    return getattr(asyncpg.exceptions, name)("message")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        ("ConnectionDoesNotExistError", True),  # the socket closed in the middle of a query
        ("ConnectionFailureError", True),
        ("AdminShutdownError", True),  # pg_terminate_backend, server shutdown
        ("CrashShutdownError", True),
        ("CannotConnectNowError", True),
        ("IdleSessionTimeoutError", True),
        ("InterfaceError", True),  # "connection is closed"
        ("ProtocolError", True),
        ("QueryCanceledError", False),  # a statement timeout ends the statement only
        ("DataError (client side)", False),  # a bad argument is the statement's fault
        ("UniqueViolationError", False),
        ("CharacterNotInRepertoireError", False),  # U+0000 in a text
    ],
)
def test_postgres_connection_loss_is_recognised_by_class(error: str, lost: bool) -> None:
    pytest.importorskip("asyncpg")
    from csms.storage.postgres import _is_connection_loss

    assert _is_connection_loss(_asyncpg_error(error)) is lost
    assert _is_connection_loss(ConnectionResetError()) and _is_connection_loss(TimeoutError())


class _CuttingProxy:
    """A TCP proxy to PostgreSQL that can cut a connection while the client is sending: the
    client's query never arrives and its socket closes under it (asyncpg then raises
    ConnectionDoesNotExistError, "connection was closed in the middle of operation")."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.cut_after: int | None = None  # client sends to let through before cutting
        self.cuts = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, client: bool) -> None:
            try:
                while data := await src.read(65536):
                    if client and self.cut_after is not None:
                        if self.cut_after == 0:
                            self.cut_after = None
                            self.cuts += 1
                            writer.transport.abort()
                            up_writer.transport.abort()
                            return
                        self.cut_after -= 1
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


@pytest.mark.parametrize("cut_after", [0, 1], ids=["at-begin", "inside-the-transaction"])
async def test_postgres_writer_retries_when_the_connection_dies_mid_write(
    postgres_url: str, cut_after: int
) -> None:
    """Deterministically what made the reconnect test flaky: the socket closes while a write is
    on its way, and asyncpg raises ConnectionDoesNotExistError (not InterfaceError)."""
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    proxy = _CuttingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    db = open_database(parts._replace(netloc=netloc).geturl())
    await db.open()
    try:
        await db.write(Stmt("CREATE TABLE c (v INTEGER)"))
        proxy.cut_after = cut_after
        await db.write(Stmt("INSERT INTO c (v) VALUES ($1)", (1,)))
        assert proxy.cuts == 1
        assert await db.fetchval("SELECT count(*) FROM c") == 1
    finally:
        await db.close()
        await proxy.close()
