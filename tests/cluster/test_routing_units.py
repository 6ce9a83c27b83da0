"""The pure parts of routing: the decision where a CALL goes, and the message envelopes."""

from __future__ import annotations

import asyncio

import pytest

from csms.cluster import envelope
from csms.cluster.messaging import CLUSTER, channel_name
from csms.cluster.presence import PresenceCache
from csms.cluster.routing import LOCAL, OFFLINE, ClusterLink, Route, route
from csms.events import MeterSampled, StationConnected
from csms.ocpp.errors import CallErrorReceived, CallFailed, CallTimeout, StationOffline
from csms.ocpp.registry import StationRegistry

LIVE = frozenset({"a", "b"})


@pytest.mark.parametrize(
    ("has_session", "owner", "expected"),
    [
        (True, None, LOCAL),  # a session the cache has not heard of yet
        (True, "b", LOCAL),  # the cache is behind a reconnect to this node
        (False, "b", Route("remote", "b")),
        (False, None, OFFLINE),
        (False, "a", OFFLINE),  # the cache says here, but the session is gone
        (False, "c", OFFLINE),  # held by a dead node
    ],
)
def test_route(has_session: bool, owner: str | None, expected: Route) -> None:
    assert route(has_session, owner, "a", LIVE) == expected


MESSAGES: list[envelope.Message] = [
    envelope.CallRequest("r1", "a", "ST-1", "GetConfiguration", {"key": ["X"]}),
    envelope.CallAnswer("r1", result={"configurationKey": []}),
    envelope.CallAnswer("r1", error=envelope.CallError("CallTimeout", "no answer")),
    envelope.CallAnswer(
        "r2", error=envelope.CallError("CallErrorReceived", "m", "NotSupported", "d", {"x": 1})
    ),
    envelope.EventMessage(
        "a",
        (
            StationConnected("ST-1", 1.5),
            MeterSampled("ST-1", 1, 7, 2.0, {("Current.Import", "L1"): 6.0}),
        ),
    ),
    envelope.PresenceMessage("ST-1", "b", 12.5, 42),
    envelope.PresenceMessage("ST-1", None, 0.0, 43),
    envelope.Ref(17),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_envelopes_round_trip(message: envelope.Message) -> None:
    assert envelope.decode(envelope.encode(message)) == message


@pytest.mark.parametrize(
    "text",
    ["", "[]", "not json", '{"k": "nope"}', '{"k": "call", "id": "x"}', '{"k": "events",'],
)
def test_foreign_payloads_are_refused(text: str) -> None:
    with pytest.raises(envelope.EnvelopeError):
        envelope.decode(text)


def test_large_messages_do_not_fit_a_notify() -> None:
    small = envelope.encode(envelope.CallRequest("r", "a", "S", "DataTransfer", {"data": "x"}))
    large = envelope.encode(
        envelope.CallRequest("r", "a", "S", "DataTransfer", {"data": "é" * 4000})
    )
    assert envelope.fits_notify(small)
    assert not envelope.fits_notify(large)  # 4,000 characters, 8,000 bytes


@pytest.mark.parametrize(
    "error",
    [
        CallErrorReceived("NotSupported", "no", {"a": 1}),
        CallTimeout("S", "Reset", 12),
        StationOffline("S"),
        CallFailed("something else"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_owners_error_is_raised_again_by_the_caller(error: CallFailed) -> None:
    answer = envelope.decode(
        envelope.encode(envelope.CallAnswer("r", error=envelope.error_of(error)))
    )
    assert isinstance(answer, envelope.CallAnswer)
    with pytest.raises(type(error)) as raised:
        envelope.raise_answer(answer, "S", "Reset", 12)
    if isinstance(error, CallErrorReceived):
        assert isinstance(raised.value, CallErrorReceived)
        assert (raised.value.code, raised.value.description, raised.value.details) == (
            "NotSupported",
            "no",
            {"a": 1},
        )


def test_channels_differ_per_schema_and_node_and_are_identifiers() -> None:
    names = {
        channel_name(schema, node)
        for schema in (None, "t_1", "t_2")
        for node in ("a", "b", CLUSTER)
    }
    assert len(names) == 9
    assert all(n.isidentifier() and n.islower() and len(n) < 64 for n in names)


class _Peers:
    """Other nodes as the router sees them: each answers a forwarded CALL as told."""

    def __init__(self, link_of: list[ClusterLink], answers: dict[str, envelope.CallError | None]):
        self.link_of = link_of
        self.answers = answers
        self.sent: list[str] = []
        self.on_send: dict[str, object] = {}

    async def send(self, node: str, message: envelope.Message) -> None:
        assert isinstance(message, envelope.CallRequest)
        self.sent.append(node)
        hook = self.on_send.get(node)
        if callable(hook):
            hook()
        if node not in self.answers:
            return  # a dead node: no answer
        error = self.answers[node]
        answer = (
            envelope.CallAnswer(message.id, error=error)
            if error is not None
            else envelope.CallAnswer(message.id, result={"from": node})
        )
        asyncio.get_running_loop().call_soon(self.link_of[0].answered, answer)


def _link(peers: _Peers, cache: PresenceCache) -> ClusterLink:
    link = ClusterLink(StationRegistry(), cache, "a", lambda: frozenset("abc"), peers.send, 1.0)
    peers.link_of.append(link)
    return link


async def test_a_call_the_owner_no_longer_holds_goes_to_the_new_holder_once() -> None:
    cache = PresenceCache()
    cache.held_by("S", "b", 1.0, 1)
    peers = _Peers([], {"b": envelope.CallError(envelope.NOT_HELD, "offline"), "c": None})
    link = _link(peers, cache)
    # While b answers "not here", the news that c holds it arrives.
    peers.on_send["b"] = lambda: cache.held_by("S", "c", 2.0, 2)
    assert await link.call("S", "Reset", {"type": "Soft"}) == {"from": "c"}
    assert peers.sent == ["b", "c"]


async def test_a_call_that_may_have_reached_the_station_is_not_sent_again() -> None:
    cache = PresenceCache()
    cache.held_by("S", "b", 1.0, 1)
    peers = _Peers([], {"b": envelope.CallError("StationOffline", "closed while waiting")})
    link = _link(peers, cache)
    peers.on_send["b"] = lambda: cache.held_by("S", "c", 2.0, 2)
    with pytest.raises(StationOffline):
        await link.call("S", "RemoteStartTransaction", {"idTag": "T"})
    assert peers.sent == ["b"]


async def test_no_answer_from_the_owner_is_a_timeout() -> None:
    cache = PresenceCache()
    cache.held_by("S", "b", 1.0, 1)
    peers = _Peers([], {})
    link = _link(peers, cache)
    link.timeout_s = 0.2
    with pytest.raises(CallTimeout):
        await link.call("S", "Reset", {"type": "Soft"})
    assert link.online_ids() == ["S"] and link.is_online("S") and not link.is_online("T")


async def test_a_call_a_dead_owner_never_took_goes_to_the_stations_new_holder() -> None:
    cache = PresenceCache()
    cache.held_by("S", "b", 1.0, 1)
    peers = _Peers([], {"c": None})  # b died: it neither acknowledges nor answers
    link = _link(peers, cache)
    link.ack_s = 0.1
    # The station reconnected to c meanwhile; b's lease has not lapsed yet.
    peers.on_send["b"] = lambda: cache.held_by("S", "c", 2.0, 2)
    assert await link.call("S", "Reset", {"type": "Soft"}) == {"from": "c"}
    assert peers.sent == ["b", "c"]


def test_acks_round_trip() -> None:
    assert envelope.decode(envelope.encode(envelope.Ack("r9"))) == envelope.Ack("r9")
