"""Stored departures and phases (issue 11, items 8 and 9) on both engines: idTag defaults keep
the phases learnt, session plans come back for the running transactions."""

from __future__ import annotations

from csms.charging.plan_repository import PlanRepository
from csms.charging.sessions import SessionPlan, TagDefaults
from csms.storage.database import Database


async def test_defaults_and_learnt_phases_are_kept_apart(db: Database) -> None:
    repo = PlanRepository(db)
    assert await repo.defaults() == []
    await repo.learn_phases("CARD1", 1, 10.0)
    told = TagDefaults("CARD1", "07:30", "Europe/Amsterdam", 20.5, 3, None, 20.0)
    await repo.set_defaults(told)
    [stored] = await repo.defaults()
    # What was told is stored; what was learnt before is kept.
    assert stored == TagDefaults("CARD1", "07:30", "Europe/Amsterdam", 20.5, 3, 1, 20.0)
    await repo.learn_phases("CARD1", 3, 30.0)
    [stored] = await repo.defaults()
    assert (stored.phases, stored.learned_phases, stored.departure) == (3, 3, "07:30")
    await repo.set_defaults(TagDefaults("CARD1", updated_at=40.0))
    [stored] = await repo.defaults()
    assert stored == TagDefaults("CARD1", None, "UTC", None, None, 3, 40.0)


async def test_session_plans_come_back_by_transaction(db: Database) -> None:
    repo = PlanRepository(db)
    await repo.set_session_plan(7, "A", 1, SessionPlan(1.8e9, 12.5, 1), 1.0)
    await repo.set_session_plan(8, "A", 2, SessionPlan(None, 3.0, None), 1.0)
    await repo.set_session_plan(7, "A", 1, SessionPlan(1.9e9, None, 3), 2.0)
    plans = await repo.session_plans([7, 8, 9])
    assert plans == {7: SessionPlan(1.9e9, None, 3), 8: SessionPlan(None, 3.0, None)}
    assert await repo.session_plans([]) == {}
