"""Console access: a session cookie (after the login form when `api_token` is set) and CSRF.

The session cookie is `nonce.mac`, signed with a secret that lives as long as the process; it
is HttpOnly and SameSite=Strict. Every state-changing request must carry the session's CSRF
token (header `X-CSRF-Token` or form field `csrf`), derived from the same nonce, so another
site's page can neither read it nor forge it. Without `api_token` the console (like the API) is
bound to 127.0.0.1 and hands out a session on the first page load, still with CSRF checks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "csms_console"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's console session: its nonce and the CSRF token its forms must send."""

    nonce: str
    csrf: str


class Sessions:
    """Issues and checks session cookies and CSRF tokens (pure: no request objects)."""

    def __init__(self, api_token: str | None, secret: bytes | None = None) -> None:
        self.api_token = api_token
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    @property
    def login_required(self) -> bool:
        return bool(self.api_token)

    def _mac(self, purpose: str, nonce: str) -> str:
        message = f"{purpose}:{nonce}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        """Whether `given` is the configured API token (constant time)."""
        if not self.api_token:
            return True
        given_bytes = given.strip().encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given_bytes, self.api_token.encode())

    def issue(self) -> tuple[str, Session]:
        """A new session: the cookie value and the session it stands for."""
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac('session', nonce)}", self._session(nonce)

    def _session(self, nonce: str) -> Session:
        return Session(nonce=nonce, csrf=self._mac("csrf", nonce))

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie stands for, or None when it is missing or forged."""
        if not cookie or "." not in cookie:
            return None
        nonce, _, mac = cookie.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", nonce).encode()):
            return None
        return self._session(nonce)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), session.csrf.encode())
