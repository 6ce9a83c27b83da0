"""Group commit with bad writes in the stream: good writes/s with and without failing neighbours.

64 writers insert rows as fast as the writer commits them; in the "with bad" run one writer in 32
sends a write that fails (a duplicate key) every time. Before a failed batch was retried unit by
unit, so every bad write cost a batch's worth of single commits; now it costs one more run of the
batch. Runs on SQLite (a temp file) and, when reachable, PostgreSQL (a throw-away schema).

    .venv/bin/python benchmarks/storage_bad_writes.py [--seconds 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
import uuid

from csms.storage import Stmt, open_database

WRITERS = 64
BAD_EVERY = 32


async def measure(url: str, seconds: float, with_bad: bool) -> tuple[float, int]:
    db = open_database(url)
    await db.open()
    ids = itertools.count(1)
    good = bad = 0
    try:
        await db.write(Stmt("CREATE TABLE bench (id BIGINT PRIMARY KEY, v TEXT)"))
        await db.write(Stmt("INSERT INTO bench (id, v) VALUES (0, 'taken')"))
        deadline = time.perf_counter() + seconds

        async def writer(n: int) -> None:
            nonlocal good, bad
            while time.perf_counter() < deadline:
                if with_bad and n % BAD_EVERY == 0:
                    try:
                        await db.write(Stmt("INSERT INTO bench (id, v) VALUES (0, 'dup')"))
                    except Exception:
                        bad += 1
                    continue
                await db.write(Stmt("INSERT INTO bench (id, v) VALUES ($1, 'x')", (next(ids),)))
                good += 1

        start = time.perf_counter()
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        elapsed = time.perf_counter() - start
        await db.write(Stmt("DROP TABLE bench"))
    finally:
        await db.close()
    return good / elapsed, bad


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = [("sqlite", f"sqlite:///{tmp}/bench.sqlite3")]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        urls.append(("postgres", f"{args.postgres}?schema={schema}"))
        for engine, url in urls:
            try:
                clean, _ = await measure(url, args.seconds, with_bad=False)
                dirty, bad = await measure(url, args.seconds, with_bad=True)
            except Exception as exc:  # a missing server is reported, not fatal
                print(f"{engine:8}  skipped: {exc}")
                continue
            finally:
                if engine == "postgres":
                    await _drop_schema(args.postgres, schema)
            print(
                f"{engine:8}  good writes/s: {clean:7.0f} alone, {dirty:7.0f} with "
                f"{WRITERS // BAD_EVERY} of {WRITERS} writers failing ({bad} bad writes), "
                f"{dirty / clean:.0%}"
            )


async def _drop_schema(url: str, schema: str) -> None:
    try:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(url)
    except Exception:  # nothing to drop when the server is not there
        return
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
