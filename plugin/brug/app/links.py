"""Personal answer links: `<base URL>/a/<token>`, signed, bound to one member and one round.

A token carries the partnership, the member's key, the prompt it answers, the barometer round and
a last moment; it is signed with the secret from `[web]` (itsdangerous, HMAC-SHA256). Whether it is
still good is decided where it is used: the signature must hold, the moment must not have passed,
and the round must still be open in the store — a closed round closes every link bound to it.
The token holds no name, no e-mail address and no answer.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

LINK_SALT = "brug.answer-link.v1"
CSRF_SALT = "brug.csrf.v1"
SIGNIN_SALT = "brug.sign-in.v1"
SESSION_SALT = "brug.session.v1"
NEXTCLOUD_LOGIN_SALT = "brug.nextcloud-login.v1"
SIGNIN_MINUTES = 20  # a sign-in link holds this long
SESSION_HOURS = 12  # a coordinator's session holds this long


@dataclass(frozen=True)
class AnswerLink:
    partnership: str
    member: str  # the member's key in the partnership file
    key: str  # the outbox key of the reflection prompt it answers
    round_id: str  # the barometer round its pulse counts in
    expires: datetime  # the end of the round (or a far bound for a round counted in prompts)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires


class LinkSigner:
    """Makes and reads answer links and the CSRF tokens of their forms."""

    def __init__(self, secret: str, base_url: str) -> None:
        if len(secret) < 16:
            raise ValueError("the web secret must be at least 16 characters long")
        self.base_url = base_url.rstrip("/")
        self._links = URLSafeSerializer(secret, salt=LINK_SALT)
        self._csrf = URLSafeSerializer(secret, salt=CSRF_SALT)
        self._signin = URLSafeTimedSerializer(secret, salt=SIGNIN_SALT)
        self._session = URLSafeTimedSerializer(secret, salt=SESSION_SALT)
        self._nextcloud_login = URLSafeTimedSerializer(secret, salt=NEXTCLOUD_LOGIN_SALT)

    def token(self, link: AnswerLink) -> str:
        return str(
            self._links.dumps(
                [link.partnership, link.member, link.key, link.round_id, int(link.expires.timestamp())]
            )
        )

    def url(self, link: AnswerLink) -> str:
        return f"{self.base_url}/a/{self.token(link)}"

    def read(self, token: str) -> AnswerLink | None:
        """The link a token stands for; None when it is not one of ours (wrong, cut short, tampered)."""
        if len(token) > 2000:
            return None
        try:
            data = self._links.loads(token)
        except BadSignature:
            return None
        if not (isinstance(data, list) and len(data) == 5 and all(isinstance(v, str) for v in data[:4])):
            return None
        if not isinstance(data[4], int):
            return None
        return AnswerLink(data[0], data[1], data[2], data[3], datetime.fromtimestamp(data[4], UTC))

    # --- coordinators: a sign-in link by e-mail, then a session cookie -----------------------------------

    def signin_url(self, identity: str) -> str:
        """A sign-in link for a viewer's identity as brug.toml names them (an e-mail address in lower case)."""
        return f"{self.base_url}/login/{self._signin.dumps(identity)}"

    def read_signin(self, token: str) -> str | None:
        return _timed(self._signin, token, SIGNIN_MINUTES * 60)

    def session(self, identity: str) -> str:
        """A session for a viewer's identity as brug.toml names them (e-mail, Matrix id, nextcloud:uid)."""
        return str(self._session.dumps(identity))

    def read_session(self, value: str | None) -> str | None:
        return _timed(self._session, value, SESSION_HOURS * 3600) if value else None

    # --- Nextcloud sign-in: the OAuth2 state and PKCE verifier, in a cookie of the browser that started --

    def nextcloud_login(self, state: str, verifier: str, language: str) -> str:
        return str(self._nextcloud_login.dumps([state, verifier, language]))

    def read_nextcloud_login(self, value: str | None, max_age: int) -> tuple[str, str, str] | None:
        """(state, verifier, language) of a sign-in started at most `max_age` seconds ago."""
        if not value or len(value) > 1000:
            return None
        try:
            data = self._nextcloud_login.loads(value, max_age=max_age)
        except (SignatureExpired, BadSignature):
            return None
        if isinstance(data, list) and len(data) == 3 and all(isinstance(v, str) for v in data):
            return data[0], data[1], data[2]
        return None

    # --- CSRF: a random value in a cookie, and the same value signed with the link in the form ---------

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, nonce: str, token: str) -> str:
        return str(self._csrf.dumps([nonce, _digest(token)]))

    def csrf_ok(self, nonce: str | None, form_value: str | None, token: str) -> bool:
        if not nonce or not form_value:
            return False
        try:
            data = self._csrf.loads(form_value)
        except BadSignature:
            return False
        return (
            isinstance(data, list)
            and len(data) == 2
            and secrets.compare_digest(str(data[0]), nonce)
            and secrets.compare_digest(str(data[1]), _digest(token))
        )


def barometer_key(partnership_id: str, round_id: str) -> str:
    """The key of a barometer round's start post; a link with it opens the six bouwstenen."""
    return f"{partnership_id}/barometer/{round_id}/start"


def _timed(serializer: URLSafeTimedSerializer, value: str, max_age: int) -> str | None:
    if len(value) > 1000:
        return None
    try:
        data = serializer.loads(value, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    return data if isinstance(data, str) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]
