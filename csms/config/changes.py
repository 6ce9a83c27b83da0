"""The life of a configuration change, as pure decisions (no I/O).

A change is stored first (`queued`), sent with ChangeConfiguration when the station is online, and
then follows the station's answer and the reboot policy:

    queued ─► verifying ─► verified | not-verified          (Accepted, no reboot needed)
           ─► reboot-pending ─► rebooting ─► verified | not-verified   (when-idle / now)
           ─► reboot-required                                (policy never: the user resets)
           ─► rejected | not-supported | failed | accepted   (accepted: write-only, unreadable)

    verified ◄─► drifted   (a later snapshot shows another value; matching again: verified)

After any boot, the fresh snapshot decides whether values waiting for a reboot are really there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from csms.config.catalog import KeySpec
from csms.config.validation import values_equal

RebootPolicy = Literal["never", "when-idle", "now"]
REBOOT_POLICIES: tuple[RebootPolicy, ...] = ("never", "when-idle", "now")
DEFAULT_REBOOT_POLICY: RebootPolicy = "when-idle"

QUEUED = "queued"
VERIFYING = "verifying"
REBOOT_PENDING = "reboot-pending"
REBOOTING = "rebooting"
REBOOT_REQUIRED = "reboot-required"
VERIFIED = "verified"
NOT_VERIFIED = "not-verified"
ACCEPTED = "accepted"
REJECTED = "rejected"
NOT_SUPPORTED = "not-supported"
FAILED = "failed"
DRIFTED = "drifted"

FINAL_STATES = frozenset(
    {VERIFIED, NOT_VERIFIED, ACCEPTED, REJECTED, NOT_SUPPORTED, FAILED, DRIFTED}
)
# States a boot resolves: the fresh snapshot shows whether the value took effect.
AWAITING_BOOT = (VERIFYING, REBOOT_PENDING, REBOOTING, REBOOT_REQUIRED)
# Settled: nothing more happens without a user action (reboot-required waits for a reset).
SETTLED_STATES = FINAL_STATES | {REBOOT_REQUIRED}


def state_after_answer(status: str, spec: KeySpec | None, policy: RebootPolicy) -> str:
    """The state a change moves to on the station's ChangeConfiguration answer.

    A reboot is needed when the station says RebootRequired, or when it says Accepted for a key
    the guide says takes effect only after a reboot (FeatureLicenseKey, SCN and ALB keys).
    """
    if status == "Rejected":
        return REJECTED
    if status == "NotSupported":
        return NOT_SUPPORTED
    if status == "RebootRequired" or (status == "Accepted" and spec is not None and spec.reboot):
        if policy == "never":
            return REBOOT_REQUIRED if status == "RebootRequired" else VERIFYING
        return REBOOT_PENDING
    if status == "Accepted":
        return ACCEPTED if spec is not None and spec.write_only else VERIFYING
    return FAILED


def verify(key: str, desired: str, present: bool, reported: str | None) -> tuple[str, str | None]:
    """(state, detail) after reading `key` back: verified when the station reports `desired`."""
    if not present:
        return NOT_VERIFIED, "the station no longer reports this key"
    if values_equal(key, desired, reported):
        return VERIFIED, None
    return NOT_VERIFIED, f"the station reports {reported!r}, not {desired!r}"


def reset_due(policies: Iterable[str], running_transactions: int) -> bool:
    """Whether to send Reset now for changes waiting with these policies.

    `now` resets at once; `when-idle` waits until no transaction runs on the station, so a
    charging session is never interrupted.
    """
    policies = set(policies)
    if "now" in policies:
        return True
    return "when-idle" in policies and running_transactions == 0
