"""Service settings: `brug.toml` next to the partnership files, overridable by BRUG_* variables.

Secrets (the Matrix access token, the Nextcloud app password) are never read from brug.toml: they
come from an environment variable or from a file named in brug.toml (e.g. a Docker/systemd secret),
and are held as `SecretStr`, so printing the settings never shows them.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from brug.content.problems import Problem, ProblemsFound, display_path, problems_from_validation
from brug.domain.partnership import EMAIL, MATRIX_ID
from brug.domain.types import Language
from brug.logs import register_secret

CONFIG_NAME = "brug.toml"
MAX_SETTINGS_BYTES = 256 * 1024
SECRET_FIELDS = {
    "matrix": ("access_token", "BRUG_MATRIX__ACCESS_TOKEN"),
    "nextcloud": ("app_password", "BRUG_NEXTCLOUD__APP_PASSWORD"),
    "mail": ("password", "BRUG_MAIL__PASSWORD"),
    "web": ("secret", "BRUG_WEB__SECRET"),
}
OTHER_SECRETS = {"nextcloud": ("talk_bot_secret", "BRUG_NEXTCLOUD__TALK_BOT_SECRET")}


class MatrixSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    homeserver: str = Field(description="base URL of the homeserver, e.g. https://matrix.example.org")
    user_id: str = Field(description="the bot's Matrix id, e.g. @brug:example.org")
    device_id: str = Field(default="BRUG", description="kept the same across restarts so retries are not doubled")
    invite_every_room: bool = Field(
        default=False,
        description="invite members to every room, not only to the space whose members the rooms admit "
        "(for clients that cannot join a room from a space)",
    )
    access_token: SecretStr | None = None
    access_token_file: Path | None = None

    def token(self) -> str | None:
        return _secret(self.access_token, self.access_token_file)


class NextcloudSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="base URL, e.g. https://cloud.example.org")
    user: str = Field(description="the account brug works as (owner of the workspace folders)")
    folder: str = Field(default="brug", description="folder in that account that holds one folder per partnership")
    deck: bool = Field(default=True, description="a Deck board per partnership")
    calendar: bool = Field(default=True, description="the meetings as events in brug's calendar")
    talk_bot_listen: str | None = Field(
        default=None,
        description="host:port where `brug run` receives Talk's bot webhook (occ talk:bot:install … "
        "--feature=webhook); without it brug reads new messages every few seconds",
        pattern=r"^[^:\s]+:\d{1,5}$",
    )
    app_password: SecretStr | None = None
    app_password_file: Path | None = None
    talk_bot_secret: SecretStr | None = None
    talk_bot_secret_file: Path | None = None

    def password(self) -> str | None:
        return _secret(self.app_password, self.app_password_file)

    def bot_secret(self) -> str | None:
        return _secret(self.talk_bot_secret, self.talk_bot_secret_file)


def _secret(value: SecretStr | None, file: Path | None) -> str | None:
    """The secret from its environment variable, else from its file (a container or systemd secret).

    Whatever is read is registered with brug.logs, so no log line can show it."""
    found: str | None = None
    if value is not None:
        found = value.get_secret_value()
    elif file is not None:
        try:
            found = file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise SecretUnreadable(file, err) from None
    register_secret(found)
    return found


class SecretUnreadable(ValueError):
    """A *_file setting names a file that cannot be read."""

    def __init__(self, file: Path, error: OSError) -> None:
        super().__init__(f"{file}: {error.strerror or error}")
        self.file = file
        self.error = error


class MailSettings(BaseModel):
    """The SMTP server that mails reflection prompts to members who answer by link."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="the SMTP server, e.g. smtp.example.org")
    port: int = Field(default=587, ge=1, le=65535, description="587 for STARTTLS")
    starttls: bool = Field(default=True, description="encrypt with STARTTLS before logging in (leave on)")
    user: str | None = Field(default=None, description="login name; the password comes from BRUG_MAIL__PASSWORD")
    sender: str = Field(description="the From address, e.g. brug@example.org")
    ca_file: Path | None = Field(default=None, description="a CA bundle for a server with a private certificate")
    timeout: float = Field(default=30, gt=0, description="seconds to wait for the server")
    password: SecretStr | None = None
    password_file: Path | None = None

    def secret(self) -> str | None:
        return _secret(self.password, self.password_file)


NEXTCLOUD_VIEWER = "nextcloud:"
NEXTCLOUD_UID = re.compile(r"^[A-Za-z0-9_.@\-' ]{1,64}$")  # what Nextcloud allows in a user id


def viewer_identity(value: str) -> str:
    """A viewer as brug.toml names them, in the one form brug compares: an e-mail address (lower
    case), a Matrix id (`@ann:matrix.example`, as it is) or a Nextcloud user (`nextcloud:ann`, lower case)."""
    text = value.strip()
    if text.startswith(NEXTCLOUD_VIEWER) and NEXTCLOUD_UID.match(text[len(NEXTCLOUD_VIEWER) :]):
        return text.lower()  # Nextcloud keeps user ids unique regardless of case ("Ann" and "ann" are one)
    if text.startswith("@") and MATRIX_ID.match(text):
        return text
    if ":" not in text and EMAIL.match(text):
        return text.lower()
    raise PydanticCustomError(
        "brug_viewer",
        "an e-mail address (ann@school.be), a Matrix id (@ann:matrix.example) or a Nextcloud user (nextcloud:ann)",
        {"value": value},
    )


class CoordinatorSettings(BaseModel):
    """An organisation that coordinates partnerships, and who may see its portfolio."""

    model_config = ConfigDict(extra="forbid")

    organisation: str = Field(description="the organisation's id, as in the partnership files")
    name: str | None = Field(default=None, description="shown on the portfolio page")
    viewers: list[Annotated[str, AfterValidator(viewer_identity)]] = Field(
        default_factory=list,
        description="who may sign in: e-mail addresses, Matrix ids (@ann:matrix.example) and Nextcloud users (nextcloud:ann)",
    )


class NextcloudLoginSettings(BaseModel):
    """Signing in to the portfolio with a Nextcloud account (an OAuth 2.0 client of Nextcloud's oauth2 app)."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(
        description="the client id Nextcloud gave (Administration settings → Security → OAuth 2.0 clients), "
        "registered with the redirection URI <base_url>/login/nextcloud/callback",
        min_length=1,
    )
    url: str | None = Field(
        default=None, description="the Nextcloud's address; [nextcloud] url when left out", pattern=r"^https?://\S+$"
    )
    trust_email: bool = Field(
        default=False,
        description="also let in an account whose e-mail address (as Nextcloud reports it) is a viewer: only where "
        "people cannot set their own address (Nextcloud does not verify it)",
    )
    client_secret: SecretStr | None = None  # from BRUG_WEB__NEXTCLOUD_LOGIN__CLIENT_SECRET or client_secret_file
    client_secret_file: Path | None = None

    def secret(self) -> str | None:
        return _secret(self.client_secret, self.client_secret_file)


class WebSettings(BaseModel):
    """The web page where members without a chat account answer by a personal link."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="the address people open, e.g. https://brug.example.org", pattern=r"^https?://\S+$")
    host: str = Field(default="127.0.0.1", description="where `brug run` and `brug web` listen")
    port: int = Field(default=8080, ge=1, le=65535)
    per_ip_per_minute: int = Field(default=60, ge=1, description="requests one address may make per minute")
    per_link_per_minute: int = Field(default=20, ge=1, description="requests one personal link may make per minute")
    coordinators: list[CoordinatorSettings] = Field(
        default_factory=list, description="organisations whose viewers see a portfolio of their partnerships"
    )
    nextcloud_login: NextcloudLoginSettings | None = Field(
        default=None, description="coordinators may also sign in with their Nextcloud account"
    )
    secret: SecretStr | None = None  # signs the links; from BRUG_WEB__SECRET or secret_file
    secret_file: Path | None = None

    def signing_secret(self) -> str | None:
        return _secret(self.secret, self.secret_file)


class MetricsSettings(BaseModel):
    """Where `brug run` serves /healthz, /readyz and /metrics when there is no [web] (with [web] they are
    on the web page's port)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="the address to listen on (0.0.0.0 in a container)")
    port: int = Field(default=8080, ge=1, le=65535)


class ScheduleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_hours_agenda: float = Field(default=12, ge=0, description="post a missed agenda this late at most")
    grace_hours_reflection: float = Field(default=12, ge=0, description="post a missed prompt this late at most")
    reconcile_minutes: int = Field(default=15, ge=1, description="how often `brug run` re-reads the files")


class InstancesSettings(BaseModel):
    """Several `brug run` on one PostgreSQL: how long a lease lasts and how often it is renewed."""

    model_config = ConfigDict(extra="forbid")

    lease_seconds: float = Field(
        default=30, ge=1, le=600, description="a dead instance's work is taken over after this (plus one renewal)"
    )
    renew_seconds: float = Field(default=10, gt=0, description="how often an instance renews its leases")

    @model_validator(mode="after")
    def _renew_well_within_the_lease(self) -> InstancesSettings:
        if self.renew_seconds * 2 > self.lease_seconds:
            raise PydanticCustomError("brug_renewal", "renew_seconds must be at most half of lease_seconds")
        return self


def _state_location(value: Any) -> Any:
    """`state` is a database URL when it has a scheme (postgresql://…), else the path of a SQLite file."""
    if isinstance(value, str) and "://" not in value:
        return Path(value)
    if isinstance(value, str) and not re.match(r"^postgres(ql)?(\+psycopg)?://", value):
        raise ValueError("a SQLite file (path) or a postgresql:// URL")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRUG_", env_nested_delimiter="__", extra="forbid")

    language: Language = Field(default="nl", description="language of brug's own messages")
    partnerships: list[Path] = Field(default_factory=lambda: [Path("partnerschappen")])
    workspace: Path = Field(default=Path("werkruimte"), description="folder of the local workspaces")
    state: Annotated[Path | str, BeforeValidator(_state_location)] = Field(
        default=Path(".brug/state.db"),
        description="brug's memory: a SQLite file, or a PostgreSQL URL (postgresql://user@host/database)",
    )
    phase_models: list[Path] = Field(default_factory=list, description="folders with your own phase models")
    templates: Path | None = Field(default=None, description="folder overriding templates/<lang>/<name>.md.j2")
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    instances: InstancesSettings = Field(default_factory=InstancesSettings)
    matrix: MatrixSettings | None = None
    nextcloud: NextcloudSettings | None = None
    mail: MailSettings | None = None
    web: WebSettings | None = None
    metrics: MetricsSettings | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # precedence: explicit arguments, then BRUG_* variables, then brug.toml
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    def resolved(self, base: Path) -> Settings:
        """Relative paths are relative to the folder of brug.toml."""

        def fix(p: Path) -> Path:
            return p if p.is_absolute() else base / p

        matrix = self.matrix
        if matrix is not None and matrix.access_token_file is not None:
            matrix = matrix.model_copy(update={"access_token_file": fix(matrix.access_token_file)})
        nextcloud = self.nextcloud
        if nextcloud is not None and nextcloud.app_password_file is not None:
            nextcloud = nextcloud.model_copy(update={"app_password_file": fix(nextcloud.app_password_file)})
        if nextcloud is not None and nextcloud.talk_bot_secret_file is not None:
            nextcloud = nextcloud.model_copy(update={"talk_bot_secret_file": fix(nextcloud.talk_bot_secret_file)})
        mail = self.mail
        if mail is not None:
            mail = mail.model_copy(
                update={
                    "password_file": fix(mail.password_file) if mail.password_file else None,
                    "ca_file": fix(mail.ca_file) if mail.ca_file else None,
                }
            )
        web = self.web
        if web is not None and web.secret_file is not None:
            web = web.model_copy(update={"secret_file": fix(web.secret_file)})
        login = web.nextcloud_login if web is not None else None
        if web is not None and login is not None and login.client_secret_file is not None:
            login = login.model_copy(update={"client_secret_file": fix(login.client_secret_file)})
            web = web.model_copy(update={"nextcloud_login": login})
        return self.model_copy(
            update=dict(
                mail=mail,
                web=web,
                partnerships=[fix(p) for p in self.partnerships],
                workspace=fix(self.workspace),
                state=self.state if isinstance(self.state, str) else fix(self.state),
                phase_models=[fix(p) for p in self.phase_models],
                templates=fix(self.templates) if self.templates else None,
                matrix=matrix,
                nextcloud=nextcloud,
            )
        )


def _reading(toml: Path | None) -> type[Settings]:
    """Settings that read this particular brug.toml (or none)."""
    return type(
        "Settings", (Settings,), {"model_config": SettingsConfigDict(**{**Settings.model_config, "toml_file": toml})}
    )


def load_settings(config: Path | None = None, language: Language = "nl") -> Settings:
    """Read brug.toml (when there is one) and BRUG_* variables; raise ProblemsFound when wrong."""
    path = config if config is not None else Path(CONFIG_NAME)
    if config is not None and not path.exists():
        raise ProblemsFound(
            [Problem(display_path(path), (), "bestand niet gevonden" if language == "nl" else "file not found")]
        )
    exists = path.exists()
    problems: list[Problem] = []
    if exists:
        if not path.is_file() or path.stat().st_size > MAX_SETTINGS_BYTES:
            text = (
                f"geen gewoon bestand van hoogstens {MAX_SETTINGS_BYTES // 1024} kB"
                if language == "nl"
                else f"not a regular file of at most {MAX_SETTINGS_BYTES // 1024} kB"
            )
            raise ProblemsFound([Problem(display_path(path), (), text, 1)])
        try:
            raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8", errors="replace"))
        except tomllib.TOMLDecodeError as err:
            where = re.search(r"\(at line (\d+), column \d+\)", str(err))
            reason = re.sub(r"\s*\(at line.*\)$", "", str(err))
            text = f"geen geldige TOML («{reason}»)" if language == "nl" else f"not valid TOML: {reason}"
            raise ProblemsFound([Problem(display_path(path), (), text, int(where[1]) if where else 1)]) from None
        for section, (field, variable) in [*SECRET_FIELDS.items(), *OTHER_SECRETS.items()]:
            if isinstance(raw.get(section), dict) and field in raw[section]:
                problems.append(
                    Problem(
                        display_path(path),
                        (section, field),
                        (
                            f"geheimen horen niet in {CONFIG_NAME}: "
                            f"gebruik de omgevingsvariabele {variable} of {field}_file"
                            if language == "nl"
                            else f"secrets do not belong in {CONFIG_NAME}: "
                            f"use the environment variable {variable} or {field}_file"
                        ),
                    )
                )
        login = raw.get("web", {}).get("nextcloud_login") if isinstance(raw.get("web"), dict) else None
        if isinstance(login, dict) and "client_secret" in login:
            variable = "BRUG_WEB__NEXTCLOUD_LOGIN__CLIENT_SECRET"
            problems.append(
                Problem(
                    display_path(path),
                    ("web", "nextcloud_login", "client_secret"),
                    f"geheimen horen niet in {CONFIG_NAME}: gebruik de omgevingsvariabele {variable} of client_secret_file"
                    if language == "nl"
                    else f"secrets do not belong in {CONFIG_NAME}: use the environment variable {variable} "
                    "or client_secret_file",
                )
            )
        state = raw.get("state")
        if isinstance(state, str) and "://" in state and _has_password(state):
            problems.append(
                Problem(
                    display_path(path),
                    ("state",),
                    (
                        f"geheimen horen niet in {CONFIG_NAME}: laat het wachtwoord weg uit de URL en zet het "
                        "in een ~/.pgpass-bestand (PGPASSFILE), of zet de hele URL in de omgevingsvariabele BRUG_STATE"
                        if language == "nl"
                        else f"secrets do not belong in {CONFIG_NAME}: leave the password out of the URL and put it "
                        "in a ~/.pgpass file (PGPASSFILE), or put the whole URL in the environment variable BRUG_STATE"
                    ),
                )
            )
    if problems:
        raise ProblemsFound(problems)
    try:
        settings = _reading(path if exists else None)()
    except ValidationError as err:
        raise ProblemsFound(problems_from_validation(err, display_path(path), None, Settings, language)) from None
    return settings.resolved(path.resolve().parent if exists else Path.cwd())


def display_state(state: Path | str) -> str:
    """Where brug's memory is, as messages show it: a file as the user knows it, a URL without password."""
    if isinstance(state, Path):
        return display_path(state)
    from brug.store import shown_url

    return shown_url(state)


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # the field's own check says what is wrong with it
    return bool(parsed.password) or "password" in parsed.query


def settings_language() -> Language:
    value = os.environ.get("BRUG_LANGUAGE", "nl")
    return "en" if value == "en" else "nl"
