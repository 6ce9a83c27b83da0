"""The stored result of an SCN apply job (csms/config/scn/apply.py): typed; old jobs still read."""

from __future__ import annotations

from csms.config.scn.apply import MemberCheck, Mismatch, ScnResult

# What versions before the typed record stored: the whole dry run as the API showed it.
OLD_RESULT = {
    "report": {
        "network": "GARAGE",
        "socket_count": 3,
        "ok": True,
        "problems": [],
        "warnings": [],
        "stations": [
            {"station_id": "A", "socket_ids": [0, 1], "problems": [], "changes": [], "keys": []},
            {"station_id": "B", "socket_ids": [2], "problems": [], "changes": [], "keys": []},
        ],
    },
    "change_ids": {"A": [4, 5]},
    "members": {
        "A": {"consistent": True, "mismatches": [], "detail": None},
        "B": {
            "consistent": False,
            "mismatches": [{"key": "SCN-SocketID", "desired": "2", "reported": "0"}],
            "detail": None,
        },
    },
}


def test_a_job_stored_by_an_earlier_version_reads() -> None:
    result = ScnResult.from_json(OLD_RESULT)
    assert result.members == {"A": (0, 1), "B": (2,)}
    assert result.change_ids == {"A": [4, 5]} and result.all_change_ids == [4, 5]
    assert result.checks == {
        "A": MemberCheck(True),
        "B": MemberCheck(False, (Mismatch("SCN-SocketID", "2", "0"),)),
    }


def test_the_stored_form_reads_back_the_same() -> None:
    result = ScnResult.from_json(OLD_RESULT)
    assert ScnResult.from_json(result.to_json()) == result
    running = ScnResult({"A": (0,)}, {"A": [1]})
    assert "members" not in running.to_json()  # no read-back yet: the job is not finished
    assert ScnResult.from_json(running.to_json()) == running
    assert ScnResult.from_json({}) == ScnResult({})
