"""The sharing policies the site settings accept (light: the CLI reads them for its help)."""

from __future__ import annotations

from enum import Enum
from typing import get_args

from pydantic import BaseModel

from csms.settings import SiteSettings


def policies(settings: type[BaseModel] = SiteSettings) -> tuple[str, ...]:
    """The sharing policies the site settings accept (empty when this version has none)."""
    field_info = settings.model_fields.get("sharing")
    if field_info is None:
        return ()
    found: list[str] = []
    pending = [field_info.annotation]
    while pending:  # Literal[...], possibly inside Optional/Union, or an Enum
        annotation = pending.pop(0)
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            found += [str(member.value) for member in annotation]
            continue
        for arg in get_args(annotation):
            if isinstance(arg, str):
                found.append(arg)
            elif arg is not type(None):
                pending.append(arg)
    return tuple(found)


def with_policy(site: SiteSettings, policy: str) -> SiteSettings:
    """The site with another sharing policy, checked by the settings model."""
    if policy not in policies():
        known = ", ".join(policies()) or "none in this version"
        raise ValueError(f"--policy {policy!r} is not a sharing policy (known: {known})")
    return SiteSettings.model_validate({**site.model_dump(), "sharing": policy})
