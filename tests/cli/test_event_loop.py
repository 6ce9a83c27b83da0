"""`event_loop` picks the loop `csms serve` runs on: asyncio's by default, uvloop when set."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from csms.cli.serve import event_loop_factory
from csms.settings import SettingsError, load_settings
from tests.support.databases import make_settings


def test_asyncio_by_default_and_uvloop_when_set(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.sqlite3"
    assert event_loop_factory(make_settings(url)) is None
    factory = event_loop_factory(make_settings(url, event_loop="uvloop"))
    assert factory is not None
    with asyncio.Runner(loop_factory=factory) as runner:
        loop = runner.get_loop()
        assert type(loop).__module__.startswith("uvloop")
        assert runner.run(asyncio.sleep(0, result="ran")) == "ran"


def test_an_unknown_loop_is_refused_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "csms.toml"
    config.write_text('event_loop = "trio"\n')
    with pytest.raises(SettingsError, match="event_loop"):
        load_settings(str(config), env={})
