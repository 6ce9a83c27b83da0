"""`csms serve`: run the central system until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import resource
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from csms.cli import CliError
from csms.logs import configure_logging
from csms.settings import Settings, SettingsError, load_settings
from csms.storage import DatabaseError

if TYPE_CHECKING:
    from csms.app import CentralSystem

log = logging.getLogger(__name__)


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that override settings (names as in product.md)."""
    parser.add_argument("--config", help="TOML settings file (default: $CSMS_CONFIG)")
    parser.add_argument("--database-url", dest="database_url")
    parser.add_argument("--ocpp-host", dest="ocpp_host")
    parser.add_argument("--ocpp-port", dest="ocpp_port", type=int)
    parser.add_argument("--api-host", dest="api_host")
    parser.add_argument("--api-port", dest="api_port", type=int)
    parser.add_argument(
        "--unknown-stations", dest="unknown_stations", choices=["pending", "accept", "reject"]
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name, None)
        for name in (
            "database_url",
            "ocpp_host",
            "ocpp_port",
            "api_host",
            "api_port",
            "unknown_stations",
        )
    }
    try:
        return load_settings(args.config, **overrides)
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("serve", help="run the central system")
    add_settings_arguments(parser)
    parser.set_defaults(func=serve)


SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_early_signals: list[int] = []


def _note_early_signal(signum: int, frame: object) -> None:
    _early_signals.append(signum)


def _shutdown_on_signals(cs: CentralSystem) -> None:
    """SIGTERM/SIGINT stop the central system in order, whenever they come.

    A signal that arrived before the event loop took over (while the program was still loading)
    was noted by `_note_early_signal`: shutdown starts right away then.
    """
    loop = asyncio.get_running_loop()
    for sig in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(sig, cs.request_shutdown)
    if _early_signals:
        cs.request_shutdown()


# Container allocations (net of frees) between two collections of the youngest generation;
# CPython's default is 700. See `tune_collector`.
YOUNG_GENERATION_THRESHOLD = 20_000
# Middle-generation collections before a full pass is considered; CPython's default is 10.
FULL_PASS_THRESHOLD = 100


def tune_collector() -> None:
    """Set the cyclic garbage collector for a server holding thousands of connections.

    What start-up built (modules, settings, the application's objects) lives as long as the
    process: frozen, the collector's full passes stop walking it. p99 at 200 stations
    87 → 55 ms (docs/performance.md, "Throughput on a quiet machine").

    A full pass walks every object of every connected station (10,000 stations: ~450 ms, the
    event loop stopped). CPython starts one whenever the objects promoted to the oldest
    generation since the last reach a quarter of it; with a young generation of 700, the
    short-lived objects of each message (futures waiting for a commit, a read's answer) outlive
    a young collection and are promoted, so during an accept storm a full pass ran every second:
    20 s of a 75 s run. With 20,000 they die young: 1 full pass, and heartbeat p99 after the
    storm 703 → 179 ms. While thousands of new stations' objects arrive, a quarter is still
    reached: at 18,976 stations full passes of ~900 ms came every ~10 s. Waiting for 100 middle
    collections rather than 10 spaces them out (p99 over the 30 s after that accept 729 → 142 ms);
    a closed session leaves ~11 objects in cycles for such a pass to free (docs/performance.md,
    "The collector").
    """
    gc.freeze()
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, FULL_PASS_THRESHOLD)


async def _serve(settings: Settings) -> None:
    from csms.app import CentralSystem

    cs = CentralSystem(settings)
    _shutdown_on_signals(cs)
    task = asyncio.create_task(cs.run())
    ready = asyncio.create_task(cs.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if cs.ready.is_set():
        tune_collector()
        print(addresses_text(cs.station_urls(), cs.api_urls()), flush=True)
    else:
        ready.cancel()
    await task


def addresses_text(station_urls: list[str], api_urls: list[str]) -> str:
    """What `csms serve` prints once it listens: where stations connect, where the API is.

    The first line names one usable URL (scripts read it); further URLs follow aligned below.
    The last one is loopback: after LAN addresses, it works on this machine only.
    """
    label = "Stations connect to: "
    lines = []
    for i, url in enumerate(station_urls):
        local = i == len(station_urls) - 1 and i > 0
        lead = label if i == 0 else " " * len(label)
        lines.append(f"{lead}{url}/{{stationId}}" + ("   (this machine only)" if local else ""))
    lines.append(f"API: {', '.join(api_urls)}  (OpenAPI docs: {api_urls[0]}/docs)")
    return "\n".join(lines)


def event_loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop the `event_loop` setting names: asyncio's (None), or uvloop's.

    uvloop moves socket I/O, timers and callbacks into C (less CPU per message), but in
    benchmarks/scale.py it accepted a storm of connections so eagerly that some handshakes ran
    past their timeout: opt-in until that is solved (docs/performance.md).
    """
    if settings.event_loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        raise CliError(
            "setting event_loop: uvloop is not installed (pip install uvloop), "
            'or set event_loop = "asyncio"'
        ) from None
    return uvloop.new_event_loop


# The most a soft limit is raised to when the hard limit is unlimited (Linux's default fs.nr_open).
MOST_OPEN_FILES = 1_048_576


def raise_open_files_limit() -> int:
    """Raise this process's soft open-files limit to its hard limit; the soft limit now.

    Every connected station holds a socket. Many systems start a process with a soft limit of
    1,024, so without this the thousandth station's handshake failed with "Too many open files"
    while the hard limit (the administrator's: systemd's `LimitNOFILE=`, Docker's `ulimits`,
    set in deploy/) allowed far more.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MOST_OPEN_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("open-files limit stays %d (hard limit %d): %s", soft, hard, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    configure_logging(settings.log_level, settings.log_format, settings.node_id)
    log.info("open-files limit %d: each connected station holds one", raise_open_files_limit())
    _early_signals.clear()
    for sig in SHUTDOWN_SIGNALS:
        signal.signal(sig, _note_early_signal)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory(settings)) as runner:
            runner.run(_serve(settings))
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot start: {exc}") from None
    return 0
