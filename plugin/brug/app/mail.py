"""Reflection prompts by e-mail, with a personal answer link, for members who answer on the web.

Who gets a mail: a member with an `email` and no id on any of the partnership's chat platforms
(local chat is a transcript, not an account), or one who asked for it with `by_email: true`.
Every mail goes through the outbox under the key `<prompt key>/mail/<member>`, so a member gets
each prompt exactly once, however often the job runs; a server that refuses a mail is tried again
on the next run and parked after a few failures (like a chat post). SMTP cannot be asked whether it
already took a mail: when brug dies between the server's "250 OK" and marking the mail sent, the
next run sends it again. The Message-ID is made from the outbox key, so that second copy is the same
message to mail systems (which show one of two mails with one Message-ID) and to anyone comparing.

SMTP is the standard library's `smtplib` (STARTTLS, then login), run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from hashlib import sha256

from brug import metrics
from brug.app.links import AnswerLink, LinkSigner
from brug.app.service import Runtime, parked_after_failure
from brug.content.render import format_date
from brug.domain.partnership import Member, Partnership
from brug.domain.questions import Question
from brug.logs import fields
from brug.ports import PlatformError, Unreachable
from brug.settings import MailSettings
from brug.web.pages import page_env

log = logging.getLogger(__name__)

PLATFORM = "email"
NO_END = timedelta(days=183)  # a round counted in prompts has no end date: its links hold half a year at most


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    key: str = ""  # the outbox key: the same key, the same Message-ID (a sign-in mail has none)


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the mail sent under outbox key `key`: always the same, and no key in clear."""
    return f"<brug.{sha256(key.encode()).hexdigest()[:40]}@{domain}>"


class Mailer:
    """Sends plain-text mails through the SMTP server of brug.toml."""

    def __init__(self, settings: MailSettings, password: str | None) -> None:
        self.settings = settings
        self._password = password

    def _send(self, mail: Mail) -> str:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        domain = s.sender.rsplit("@", 1)[-1]
        message["Message-ID"] = message_id(mail.key, domain) if mail.key else make_msgid(domain=domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.body)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                smtp.ehlo()
                if s.starttls:
                    context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if s.user:
                    smtp.login(s.user, self._password or "")
                smtp.send_message(message)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as err:
            metrics.platform_error(PLATFORM, "unreachable")
            raise Unreachable(f"SMTP server {s.host}:{s.port}: {err}") from err
        except smtplib.SMTPException as err:  # a subclass of OSError: before it
            metrics.platform_error(PLATFORM, getattr(err, "smtp_code", 0) or "other")
            raise PlatformError(f"SMTP server {s.host}:{s.port} refused the mail: {err}") from err
        except OSError as err:  # no connection, a TLS failure, a timeout: the server waits, the mail too
            metrics.platform_error(PLATFORM, "unreachable")
            raise Unreachable(f"SMTP server {s.host}:{s.port}: {err}") from err
        return str(message["Message-ID"])

    async def send(self, mail: Mail) -> str:
        """Send one mail; its Message-ID. Raises Unreachable or PlatformError."""
        return await asyncio.to_thread(self._send, mail)


def by_mail(p: Partnership, member: Member) -> bool:
    """Whether this member gets the prompts by e-mail."""
    if member.email is None:
        return False
    has_chat = any(getattr(member, platform, None) for platform in p.platforms.chat if platform != "local")
    return member.by_email or not has_chat


SUBJECT = {
    "reflection": {"nl": "Reflectievraag voor {name}", "en": "Reflection question for {name}"},
    "barometer": {"nl": "Barometer voor {name}", "en": "Barometer for {name}"},
}


async def mail_prompt(
    p: Partnership, rt: Runtime, key: str, round_id: str, question: Question, slot: datetime
) -> int:
    """Mail the reflection prompt `key` with a personal link to each member who answers by mail."""
    return await _mail_members(p, rt, key, round_id, slot, "reflection", question=question.text(p.language))


async def mail_round(p: Partnership, rt: Runtime, key: str, round_id: str, label: str) -> int:
    """Mail the start of a barometer round (the six bouwstenen) with a personal link."""
    return await _mail_members(p, rt, key, round_id, rt.clock(), "barometer", question=label)


async def _mail_members(
    p: Partnership, rt: Runtime, key: str, round_id: str, since: datetime, kind: str, question: str
) -> int:
    """Each member who answers by mail gets one mail for `key` (once, through the outbox); how many now."""
    mailer: Mailer | None = rt.mailer
    signer: LinkSigner | None = rt.links
    if mailer is None or signer is None:
        return 0
    record = rt.store.barometer_round(p.id, round_id)
    expires = record.ends if record is not None and record.ends is not None else since + NO_END
    template = page_env(p.language).get_template("answer-mail.txt.j2")
    sent = 0
    failures: list[str] = []
    # a reflection prompt goes to whom the reflection room is for (its actor types, as data); the
    # barometer to everyone, so supporting members see it too
    rooms = {r.id: r for r in rt.library.phase_models[p.workflow].rooms}
    actors = set(rooms["reflectie"].actors) if kind == "reflection" else None
    for org, member in p.members:
        if not by_mail(p, member):
            continue
        if actors is not None and member.actor not in actors and not member.coordinator:
            continue
        mail_key = f"{key}/mail/{member.key}"
        link = signer.url(AnswerLink(p.id, member.key, key, round_id, expires))
        body = template.render(
            kind=kind, partnership=p.name, member=member.name, question=question, link=link,
            expires=format_date(expires.astimezone(p.zone).date(), p.language),
        )
        if rt.store.enqueue(PLATFORM, mail_key, p.id, member.key, "mail", body) in ("sent", "parked"):
            continue
        try:
            subject = SUBJECT[kind][p.language].format(name=p.name)
            ref = await mailer.send(Mail(member.email or "", subject, body, key=mail_key))
        except PlatformError as err:
            if not parked_after_failure(rt, p.id, PLATFORM, mail_key, "mail", err):
                metrics.post("mail", "failed")
                failures.append(str(err))
            continue
        rt.store.mark_sent(PLATFORM, mail_key, ref)
        metrics.post("mail", "sent")
        sent += 1
        log.info(
            "%s: mailed %s to a member of %s", p.id, key, org.id, extra=fields(p.id, PLATFORM, "mail", key, "sent")
        )
    if failures:
        raise PlatformError(f"{key} not mailed to everyone yet: {failures[0]}")
    return sent
