"""The simulated grid meter read with a plain pymodbus client (issue 3, acceptance 3)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from csms.meter.registers import PRESETS, PRIMARY_MODELS, RegisterSpec
from csms.sim.meter import MeterSimulator
from csms.sim.meter_script import LoadScript, ScriptStep

DT = AsyncModbusTcpClient.DATATYPE
TYPES = {"u32": DT.UINT32, "s32": DT.INT32, "f32": DT.FLOAT32}


async def plain_read(client: AsyncModbusTcpClient, spec: RegisterSpec, unit: int, order: str):
    """Read and decode one value the way any Modbus tool would, without our reader."""
    read = client.read_holding_registers if spec.function_code == 3 else client.read_input_registers
    response = await read(spec.address, count=spec.count, device_id=unit)
    assert not response.isError(), response
    word_order = "big" if order == "high-first" else "little"
    raw = client.convert_from_registers(
        response.registers, data_type=TYPES[spec.data_type], word_order=word_order
    )
    return raw * spec.scale


@pytest.mark.parametrize("model", PRIMARY_MODELS)
async def test_plain_client_reads_scripted_values_export_and_outage(meter_sim_factory, model):
    m = PRESETS[model]
    meter = await meter_sim_factory(model, household_a=(12, 6, 3), pv_a=(4, 4, 11))
    client = AsyncModbusTcpClient(meter.host, port=meter.port, timeout=0.5, retries=0)
    assert await client.connect()
    try:
        currents = [await plain_read(client, s, meter.unit, m.word_order) for s in m.current]
        powers = [await plain_read(client, s, meter.unit, m.word_order) for s in m.power or ()]
        # The register holds the magnitude; the power's sign says L3 exports 8 A.
        assert currents == pytest.approx([8.0, 2.0, 8.0], abs=1e-3)
        assert powers == pytest.approx([1840.0, 460.0, -1840.0], abs=10.0)

        meter.sim.set_pv(0)
        current = await plain_read(client, m.current[2], meter.unit, m.word_order)
        assert current == pytest.approx(3.0, abs=1e-3)

        await meter.sim.outage("error")
        read = (
            client.read_holding_registers
            if m.current[0].function_code == 3
            else client.read_input_registers
        )
        response = await read(m.current[0].address, count=2, device_id=meter.unit)
        assert response.isError()
    finally:
        client.close()

    await meter.sim.outage("stop")
    refused = AsyncModbusTcpClient(meter.host, port=meter.port, timeout=0.5, retries=0)
    assert not await refused.connect()
    refused.close()
    await meter.sim.restore()
    again = AsyncModbusTcpClient(meter.host, port=meter.port, timeout=0.5, retries=0)
    assert await again.connect()
    again.close()


def test_load_script_timeline() -> None:
    script = LoadScript(
        household_a=(10, 8, 12),
        pv_a=0,
        steps=[
            ScriptStep(30, pv_a=(16, 16, 16)),
            ScriptStep(60, outage="stop"),
            ScriptStep(80, outage="restore"),
            ScriptStep(90, household_a=2),
        ],
    )
    assert script.household_at(0) == (10, 8, 12)
    assert script.pv_at(29.9) == (0, 0, 0)
    assert script.pv_at(30) == (16, 16, 16)
    assert script.outage_at(59) is None
    assert script.outage_at(70) == "stop"
    assert script.outage_at(80) is None
    assert script.household_at(95) == (2, 2, 2)
    assert script.outage_times() == [60, 80]
    # a step added later for the same time wins
    script.add(ScriptStep(30, pv_a=1))
    assert script.pv_at(30) == (1, 1, 1)


def test_script_files_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "day.toml"
    toml.write_text(
        "household_a = [10, 8, 12]\npv_a = 0\n[[steps]]\nat_s = 5\npv_a = [3, 3, 3]\n"
        '[[steps]]\nat_s = 9\noutage = "silent"\n'
    )
    script = LoadScript.load(toml)
    assert script.pv_at(6) == (3, 3, 3)
    assert script.outage_at(10) == "silent"
    data = {"household_a": 5, "steps": [{"at_s": 1, "household_a": [1, 2, 3]}]}
    (tmp_path / "s.json").write_text(json.dumps(data))
    assert LoadScript.load(tmp_path / "s.json").household_at(2) == (1, 2, 3)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("household_a = [1, 2]\n", "household_a"),
        ('[[steps]]\nat_s = 1\noutage = "flood"\n', "steps.0.outage"),
        ("[[steps]]\npv_a = 1\n", "steps.0.at_s"),
        ("wind_a = 3\n", "wind_a"),
        ("household_a = [1, \n", "cannot be parsed"),
    ],
)
def test_bad_script_names_the_problem(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=reason):
        LoadScript.load(path)


def test_ev_currents_add_to_the_meter_when_it_includes_them() -> None:
    ev = [(0.0, 0.0, 0.0)]
    sim = MeterSimulator(
        "socomec-e27", load=LoadScript((5, 5, 5), (0, 0, 9)), ev_currents=lambda: ev[0]
    )
    assert sim.values().current_a == (5, 5, -4)
    ev[0] = (16.0, 16.0, 16.0)
    assert sim.values().current_a == (21, 21, 12)
    assert sim.values().power_w == (4830, 4830, 2760)


def test_unknown_model_and_bad_unit() -> None:
    with pytest.raises(ValueError, match="unknown meter model"):
        MeterSimulator("acme-9000")
    with pytest.raises(ValueError, match="unit 300"):
        MeterSimulator("socomec-e27", unit=300)


async def test_scripted_outage_follows_the_clock(meter_sim_factory) -> None:
    meter = await meter_sim_factory(
        "socomec-e27",
        household_a=1,
        steps=[ScriptStep(0.1, outage="stop"), ScriptStep(0.3, outage="restore")],
    )
    sim = meter.sim
    await asyncio.sleep(0.2)
    assert sim.outage_mode == "stop"
    await asyncio.sleep(0.3)
    assert sim.outage_mode is None
    client = AsyncModbusTcpClient(meter.host, port=meter.port, timeout=0.5, retries=0)
    assert await client.connect()  # listening again on the same port
    client.close()
