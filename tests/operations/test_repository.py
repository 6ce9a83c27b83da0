"""The operations repository on both engines: reservations with the transaction that used them,
files kept as bytes with size and checksum, profiles set by hand."""

from __future__ import annotations

import hashlib
import os

from csms.operations.records import ManualProfile
from csms.operations.repository import OperationsRepository
from csms.storage import Store
from csms.storage.transactions import StartRequest

NOW = 1_780_000_000.0


async def test_reservations(store: Store) -> None:
    repo = OperationsRepository(store.db)
    first = await repo.add_reservation("ALF-1", 1, "TAG", "GRP", NOW + 600, NOW)
    second = await repo.add_reservation("ALF-1", 2, "TAG2", None, NOW + 60, NOW)
    assert second > first
    await repo.answer_reservation(first, "Accepted")
    await repo.answer_reservation(second, "Accepted")
    start = StartRequest("ALF-1", 1, "TAG", 0, "2026-05-28T20:26:40Z", NOW + 10, first)
    tx, _ = await store.transactions.start(start, NOW + 10)
    await repo.cancel_reservation(second, NOW + 20)
    used_r = await repo.reservation("ALF-1", first)
    cancelled_r = await repo.reservation("ALF-1", second)
    assert used_r is not None and used_r.transaction_id == tx and used_r.state(NOW) == "used"
    assert cancelled_r is not None and cancelled_r.state(NOW + 30) == "cancelled"
    assert [r.id for r in await repo.reservations("ALF-1")] == [second, first]
    assert await repo.reservation("ALF-2", first) is None


async def test_files_keep_their_bytes(store: Store) -> None:
    repo = OperationsRepository(store.db)
    content = os.urandom(100_000) + b"\x00\xff"
    stored = await repo.add_firmware("fw.bin", content, NOW)
    assert stored.size == len(content) and stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.id == stored.sha256[:12] and len(stored.token) >= 32
    again = await repo.add_firmware("other-name.bin", content, NOW + 1)
    assert again == stored  # the same content is one file
    found = await repo.firmware_content(stored.token)
    assert found is not None and found[1] == content
    assert await repo.firmware_content("guess") is None

    request = await repo.add_diagnostics_request("ALF-1", "tok", "http://x/", NOW)
    upload = await repo.add_diagnostics_file("ALF-1", request, "d.log", b"log\x00", NOW)
    assert await repo.diagnostics_content("ALF-1", int(upload.id)) == b"log\x00"
    assert await repo.diagnostics_content("ALF-2", int(upload.id)) is None
    (listed,) = await repo.diagnostics_files("ALF-1")
    assert listed.name == "d.log" and listed.size == 4


async def test_manual_profiles(store: Store) -> None:
    repo = OperationsRepository(store.db)
    manual = ManualProfile("ALF-1", 1, 777, "TxDefaultProfile", 2, 8.0, NOW)
    await repo.add_manual_profile(manual)
    await repo.add_manual_profile(manual)  # set again: replaced, not doubled
    assert await repo.manual_profiles("ALF-1") == [manual]
    assert manual.cleared_by(None, 1, None, None) and not manual.cleared_by(778, None, None, None)
    assert not manual.cleared_by(None, None, "TxProfile", None)
    await repo.remove_manual_profile(manual)
    assert await repo.manual_profiles("ALF-1") == []
