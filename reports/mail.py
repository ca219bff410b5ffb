"""Mail: compose a mail-out, hand it to the SMTP server, and say whether a failure is worth a retry.

Three jobs, kept apart so each can be tested alone:

- **Composing** (:class:`Mail`, :func:`build_message`): one recipient per message, a plain-text and
  an HTML alternative, the reports attached. Everything a schedule's author typed (its name, a
  report title, a file name) ends up in headers, so every header value is folded to one line
  first: a subject holding CR/LF cannot add a header of its own. The Message-ID, the Date and the
  MIME boundaries come from the caller's key and content, so the same delivery built twice is the
  same bytes (a resend is recognisable as one).
- **Sending** (:class:`Mailer`): one SMTP connection for a batch, with a hook called between RCPT
  and DATA. The delivery log marks a row "sending" there: before it, a crash means nothing left;
  after it, the server may have the mail, and the row says "unknown" rather than sending twice.
- **Classifying** (:class:`MailError`): smtplib raises a dozen kinds of error; the scheduler needs
  one question answered: try again later (``permanent=False``: connection refused, a timeout, a
  4xx reply) or give up (``permanent=True``: a 5xx reply, a bad address, a refused login, a
  server without the STARTTLS the settings ask for). ``str(error)`` is the line a person reads.

:func:`body` renders the mail-out's text: which reports, their headline numbers, what is attached,
what failed, and a link to the Reports page (``reports/render/templates/mail/``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import smtplib
import socket
import ssl
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kpiboard.errors import KpiboardError

if TYPE_CHECKING:
    import jinja2

    from kpiboard.config import SmtpSettings

TEMPLATES = Path(__file__).parent / "render" / "templates" / "mail"

POLICY = email_policy.SMTP.clone(cte_type="7bit")
"""CRLF line ends, headers folded at 78 characters, and bodies encoded to 7-bit (quoted-printable
or base64) so that any server takes them, with or without 8BITMIME."""

MAX_SUBJECT = 200
"""Characters of a subject kept; longer ones end with an ellipsis (mail clients show less)."""
MAX_FILENAME = 120
"""Characters of an attachment's file name kept, extension included."""

HEADERS_WE_SET = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "auto-submitted",
    }
)
"""Headers :func:`build_message` writes itself; ``Mail.headers`` may not replace them."""


# --- composing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """One file attached to a mail."""

    filename: str  # "Sales by branch - 2026-11.pdf"; made safe again by build_message
    content: bytes
    mime: str  # "application/pdf", "application/vnd.openxmlformats-officedocument…"


@dataclass(frozen=True)
class Mail:
    """One mail to one address, ready to be built into a message."""

    to: str
    subject: str
    html: str
    text: str
    message_id: str  # "<key@domain>", from message_id()
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # extra, e.g. ("X-Kpiboard-Delivery", key)


class MailError(KpiboardError):
    """A mail that was not sent, with whether trying again can help.

    ``permanent``: a 5xx reply, a bad address, a refused login: retrying sends nothing.
    ``code``: the SMTP reply code when the server gave one.
    ``maybe_delivered``: the connection broke while the server was receiving the message, so it
    may have arrived; the caller should not send it again blindly.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.maybe_delivered = maybe_delivered


_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_ID_CHARACTER = re.compile(r"[^A-Za-z0-9!#$%&'*+/?^_`{|}~.-]")


def check_address(text: str) -> str:
    """The address as it goes into a header and the envelope (``cfo@acme.com``; the domain in
    lower case, an international domain in its ASCII form), or :class:`MailError` saying
    ``'…': not an email address``. ``Name <cfo@acme.com>`` gives the bare address."""
    name, address = parseaddr(text.strip()) if "<" in text else ("", text.strip())
    del name
    local, at, domain = address.rpartition("@")
    problem = not at or not _LOCAL_PART.match(local) or len(local) > 64
    if not problem:
        try:
            domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            problem = True
    labels = domain.split(".")
    if (
        problem
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
        or (len(labels) < 2 and domain != "localhost")
        or len(local) + 1 + len(domain) > 254
    ):
        raise MailError(f"{text.strip()!r}: not an email address", permanent=True)
    return f"{local}@{domain}"


def domain_of(address: str) -> str:
    """The domain of an address or of ``Name <address>`` (``acme.com``)."""
    return check_address(address).rpartition("@")[2]


def message_id(key: str, domain: str) -> str:
    """``<key@domain>``: the same key always gives the same id, so a resent delivery carries the
    id of its first attempt. ``domain`` may be an address (the from address): its domain is
    used. Characters an id may not hold are written as ``=XX``."""
    if "@" in domain:
        domain = domain_of(domain)
    safe_key = _ID_CHARACTER.sub(lambda m: "".join(f"={b:02X}" for b in m[0].encode()), key)
    if not safe_key:
        raise ValueError("message_id: the key is empty")
    return f"<{safe_key}@{domain}>"


def one_line(text: str) -> str:
    """Text fit for a header: line breaks, tabs and other control characters become one space,
    runs of spaces one space, no space at either end."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )
    return " ".join(cleaned.split())


def _subject(text: str) -> str:
    subject = one_line(text)
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    return subject


_FORBIDDEN_IN_FILENAME = set('/\\:*?"<>|')
_RESERVED_NAMES = frozenset(
    [
        "con",
        "prn",
        "aux",
        "nul",
        *(f"com{i}" for i in range(1, 10)),
        *(f"lpt{i}" for i in range(1, 10)),
    ]
)


def safe_filename(text: str) -> str:
    """A file name any mail client and file system takes: ``/ \\ : * ? " < > |`` and control
    characters become ``_``, no leading dots (``../`` leads nowhere), no trailing dots or
    spaces, at most 120 characters with the extension kept, never empty."""
    text = unicodedata.normalize("NFC", text)
    name = "".join(
        "_"
        if ch in _FORBIDDEN_IN_FILENAME or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
        else ch
        for ch in text
    )
    name = " ".join(name.split()).lstrip(" ._-").rstrip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 10:
            name = stem[: MAX_FILENAME - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    if not name:
        return "attachment"
    if name.partition(".")[0].lower() in _RESERVED_NAMES:
        name = "_" + name
    return name


def _from_header(from_address: str) -> Address:
    name, _ = parseaddr(from_address)
    return Address(display_name=one_line(name), addr_spec=check_address(from_address))


def build_message(
    mail: Mail, from_address: str, *, date: dt.datetime | None = None
) -> EmailMessage:
    """The message as it goes to the server: ``multipart/mixed`` holding a
    ``multipart/alternative`` (plain text, then HTML) and the attachments.

    ``date`` is the Date header (now when not given; a naive time is UTC). Built twice from the
    same mail and date, the message is the same bytes: the boundaries are made from its content.
    Header values are folded to one line (no header injection); attachment names go through
    :func:`safe_filename`.
    """
    if not _MESSAGE_ID.match(mail.message_id):
        raise ValueError(f"message id {mail.message_id!r} is not of the form <key@domain>")
    when = date or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)

    message = EmailMessage(policy=POLICY)
    message["From"] = _from_header(from_address)
    message["To"] = Address(addr_spec=check_address(mail.to))
    message["Subject"] = _subject(mail.subject)
    message["Date"] = format_datetime(when)
    message["Message-ID"] = mail.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    for name, value in mail.headers:
        if not _HEADER_NAME.match(name) or name.lower() in HEADERS_WE_SET:
            raise ValueError(f"extra header {name!r}: not a name build_message lets a caller set")
        message[name] = one_line(value)

    message.set_content(mail.text, subtype="plain", charset="utf-8")
    message.add_alternative(mail.html, subtype="html", charset="utf-8")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.mime.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=safe_filename(attachment.filename),
        )
    if not mail.attachments:
        message.make_mixed()

    digest = hashlib.sha256(mail.message_id.encode())
    for part in message.walk():
        if part is not message:
            del part["MIME-Version"]  # EmailMessage adds one to every part it makes; once is enough
        if not part.is_multipart():
            digest.update(part.as_bytes())
    # "=_" cannot occur in base64 or in a quoted-printable line (where "=" starts "=XX")
    boundary = "=_kpiboard_" + digest.hexdigest()[:32]
    message.set_boundary(boundary + "_m")
    alternative = message.get_payload(0)
    assert isinstance(alternative, EmailMessage)
    alternative.set_boundary(boundary + "_a")
    return message


# --- sending ------------------------------------------------------------------------------------


@functools.cache
def _local_hostname() -> str:
    """The name this host gives in EHLO (looked up once: a slow resolver costs one wait)."""
    return socket.getfqdn()


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    line = " ".join(text.split())
    return line[:200] + ("…" if len(line) > 200 else "")


def _by_code(code: int | None) -> bool:
    """Whether a reply code means give up: 5xx does, 4xx and anything else does not."""
    return code is not None and 500 <= code < 600


class Mailer:
    """One SMTP connection reused for a batch; reconnects when the server dropped it.

    ::

        with Mailer(settings.smtp) as mailer:
            for mail in mails:
                mailer.send(build_message(mail, settings.smtp.from_address),
                            before_data=lambda: mark_sending(mail))
    """

    def __init__(self, smtp: SmtpSettings) -> None:
        self.settings = smtp
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def server(self) -> str:
        """``host:port`` as messages name it."""
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.sock is not None

    def connect(self) -> None:
        """Open the connection: EHLO, then STARTTLS or TLS from the first byte as the settings
        say, then LOGIN when a user name is set. Raises :class:`MailError`."""
        self.close()
        try:
            self._smtp = self._open()
        except MailError:
            raise
        except Exception as exc:
            raise self._connect_error(exc) from exc

    def _open(self) -> smtplib.SMTP:
        settings = self.settings
        timeout = settings.timeout_seconds
        client: smtplib.SMTP
        if settings.ssl:
            client = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                local_hostname=_local_hostname(),
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(
                settings.host, settings.port, local_hostname=_local_hostname(), timeout=timeout
            )
        try:
            client.ehlo()
            if settings.starttls:
                if not client.has_extn("starttls"):
                    raise MailError(
                        f"the mail server {self.server} does not offer STARTTLS; "
                        "set starttls = false or use ssl",
                        permanent=True,
                    )
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if settings.username:
                self._login(client)
        except BaseException:
            _close_quietly(client)
            raise
        return client

    def _login(self, client: smtplib.SMTP) -> None:
        settings = self.settings
        if settings.password is None:
            raise MailError(
                f"[smtp] username is {settings.username!r} but KPIBOARD_SMTP_PASSWORD is not set",
                permanent=True,
            )
        if not client.has_extn("auth"):
            raise MailError(
                f"the mail server {self.server} does not offer AUTH "
                "(on many servers only after STARTTLS); set starttls = true or remove username",
                permanent=True,
            )
        try:
            client.login(settings.username or "", settings.password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"the mail server {self.server} refused the login of {settings.username!r}: "
                f"{exc.smtp_code} {_reply_text(exc.smtp_error)}",
                permanent=_by_code(exc.smtp_code),
                code=exc.smtp_code,
            ) from exc

    def _connect_error(self, exc: Exception) -> MailError:
        where = f"the mail server {self.server}"
        if isinstance(exc, smtplib.SMTPResponseException):
            return MailError(
                f"{where} refused the connection: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
                permanent=_by_code(exc.smtp_code),
                code=exc.smtp_code,
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return MailError(
                f"{where}: its TLS certificate is not trusted ({exc.verify_message})",
                permanent=True,
            )
        if isinstance(exc, ssl.SSLError):
            return MailError(f"{where}: TLS failed ({exc.reason or exc})", permanent=False)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return MailError(f"{where}: {exc}", permanent=True)
        return _transport_error(where, exc, self.settings.timeout_seconds)

    def send(self, message: EmailMessage, *, before_data: Callable[[], None] | None = None) -> None:
        """Send one message to its To address: MAIL FROM and RCPT TO, then ``before_data()``,
        then DATA. Connects first when not connected; a connection the server dropped before
        DATA is opened again once. Raises :class:`MailError`."""
        recipient = check_address(str(message["To"]))
        sender = check_address(self.settings.from_address)
        payload = message.as_bytes(policy=POLICY)
        if not self.connected:
            self.connect()
        try:
            self._envelope(sender, recipient)
        except smtplib.SMTPServerDisconnected:
            self.connect()
            try:
                self._envelope(sender, recipient)
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                raise _transport_error(
                    f"the mail server {self.server}", exc, self.settings.timeout_seconds
                ) from exc
        if before_data is not None:
            try:
                before_data()
            except BaseException:
                self._reset()  # the hook refused: leave the connection ready for the next one
                raise
        self._data(recipient, payload)

    def _envelope(self, sender: str, recipient: str) -> None:
        """MAIL FROM and RCPT TO; raises SMTPServerDisconnected to ask for one reconnect."""
        client = self._client()
        try:
            code, reply = client.mail(sender)
            if code == 421:
                raise smtplib.SMTPServerDisconnected(_reply_text(reply))
            if code != 250:
                self._reset()
                raise MailError(
                    f"the mail server {self.server} refused the sender {sender}: "
                    f"{code} {_reply_text(reply)}",
                    permanent=_by_code(code),
                    code=code,
                )
            code, reply = client.rcpt(recipient)
            if code == 421:
                raise smtplib.SMTPServerDisconnected(_reply_text(reply))
            if code not in (250, 251):
                self._reset()
                raise MailError(
                    f"the mail server {self.server} refused {recipient}: "
                    f"{code} {_reply_text(reply)}",
                    permanent=_by_code(code),
                    code=code,
                )
        except smtplib.SMTPServerDisconnected:
            self.close()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise _transport_error(
                f"the mail server {self.server}", exc, self.settings.timeout_seconds
            ) from exc

    def _data(self, recipient: str, payload: bytes) -> None:
        client = self._client()
        try:
            code, reply = client.data(payload)
        except smtplib.SMTPDataError as exc:
            self._reset()
            raise MailError(
                f"the mail server {self.server} refused the message to {recipient}: "
                f"{exc.smtp_code} {_reply_text(exc.smtp_error)}",
                permanent=_by_code(exc.smtp_code),
                code=exc.smtp_code,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            error = _transport_error(
                f"the mail server {self.server}", exc, self.settings.timeout_seconds
            )
            raise MailError(
                f"{error} while taking the message to {recipient}; it may have arrived",
                permanent=False,
                maybe_delivered=True,
            ) from exc
        if code != 250:  # smtplib raises for a refused DATA command; this is the final reply
            self._reset()
            raise MailError(
                f"the mail server {self.server} refused the message to {recipient}: "
                f"{code} {_reply_text(reply)}",
                permanent=_by_code(code),
                code=code,
            )

    def _client(self) -> smtplib.SMTP:
        if self._smtp is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        return self._smtp

    def _reset(self) -> None:
        """RSET after a refusal, so the next message of the batch starts a clean transaction."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        """QUIT politely and close; never raises."""
        client, self._smtp = self._smtp, None
        if client is not None:
            _close_quietly(client)


def _close_quietly(client: smtplib.SMTP) -> None:
    try:
        if client.sock is not None:
            client.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        client.close()


def _transport_error(where: str, exc: BaseException, timeout: float) -> MailError:
    """A failure of the connection itself: always worth another try later."""
    if isinstance(exc, ConnectionRefusedError):
        return MailError(f"could not connect to {where}: connection refused", permanent=False)
    if isinstance(exc, TimeoutError | socket.timeout):
        return MailError(f"{where} did not answer within {timeout:g} s", permanent=False)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError | socket.timeout):  # smtplib wraps a timeout
            return _transport_error(where, exc.__context__, timeout)
        return MailError(f"{where} closed the connection", permanent=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailError(
            f"{where} answered {exc.smtp_code} {_reply_text(exc.smtp_error)}",
            permanent=_by_code(exc.smtp_code),
            code=exc.smtp_code,
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return MailError(f"could not reach {where}: {reason}", permanent=False)
    return MailError(f"{where}: {one_line(str(exc)) or type(exc).__name__}", permanent=False)


# --- the body -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One of a report's totals, formatted already (``Revenue``, ``$1,204,332``)."""

    label: str
    value: str


@dataclass(frozen=True)
class ReportPart:
    """One report of a mail-out: what it covers, its headline numbers, and its file."""

    title: str  # "Sales by branch"
    period: str  # "November 2026"
    scope: str  # "Denver" / "All branches"
    headlines: tuple[Headline, ...]  # the report's totals, at most 6 shown
    attachment: str | None  # the attached file's name, or None (the html format)
    rows: int
    error: str | None = None  # this part failed: one line


@dataclass(frozen=True)
class Summary:
    """What a mail-out's body says."""

    schedule: str
    company: str
    recipient: str  # the recipient's name or address
    parts: tuple[ReportPart, ...]
    link: str  # the dashboard's Reports page
    sent_for: str  # "Monday 7 December 2026, 08:00 America/Denver"
    late: bool = False


MAX_HEADLINES = 6


@functools.cache
def _environment() -> jinja2.Environment:
    """The mail templates: ``*.html.j2`` autoescaped, ``*.txt.j2`` as written."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _late_reason(sent_for: str) -> str:
    """Why a mail comes late, naming the time it was due (``the scheduler was down at 08:00``)."""
    time = re.search(r"\b\d{1,2}:\d{2}\b", sent_for)
    return f"the scheduler was down at {time[0] if time else 'the scheduled time'}"


def _rows_text(rows: int) -> str:
    return f"{rows:,} row" + ("" if rows == 1 else "s")


def _part_context(part: ReportPart) -> dict[str, Any]:
    headlines = [
        Headline(one_line(h.label), one_line(h.value)) for h in part.headlines[:MAX_HEADLINES]
    ]
    return {
        "title": one_line(part.title),
        "meta": " · ".join(one_line(t) for t in (part.period, part.scope) if one_line(t)),
        "headlines": headlines,
        "attachment": one_line(part.attachment) if part.attachment else None,
        "rows": _rows_text(part.rows),
        "error": one_line(part.error) if part.error else None,
        "label_width": max((len(h.label) for h in headlines), default=0),
        "value_width": max((len(h.value) for h in headlines), default=0),
    }


def _preheader(summary: Summary) -> str:
    """The line an inbox shows beside the subject: the first report's first numbers."""
    for part in summary.parts:
        if part.error is None and part.headlines:
            numbers = ", ".join(
                f"{one_line(h.label)} {one_line(h.value)}" for h in part.headlines[:3]
            )
            return f"{one_line(part.title)}: {numbers}"
    return f"{len(summary.parts)} report" + ("" if len(summary.parts) == 1 else "s")


def _overview(parts: tuple[ReportPart, ...]) -> str:
    """One line on what the mail holds: ``3 reports: 2 attached, 1 could not be produced``."""
    attached = sum(1 for p in parts if p.error is None and p.attachment)
    online = sum(1 for p in parts if p.error is None and not p.attachment)
    failed = sum(1 for p in parts if p.error is not None)
    pieces = [
        f"{attached} attached" if attached else "",
        f"{online} on the Reports page" if online else "",
        f"{failed} could not be produced" if failed else "",
    ]
    total = f"{len(parts)} report" + ("" if len(parts) == 1 else "s")
    return f"{total}: " + ", ".join(piece for piece in pieces if piece)


def _link(url: str) -> str | None:
    """The Reports page as a link only when it is a web address (never ``javascript:``)."""
    url = url.strip()
    return url if re.match(r"^https?://[^\s\"'<>]+$", url) else None


def body(summary: Summary) -> tuple[str, str]:
    """The mail-out's body as ``(html, text)``: the same content twice, the HTML for mail
    clients (inline styles only, at most 600 px wide, no images), the text for the others."""
    parts = [_part_context(part) for part in summary.parts]
    context = {
        "schedule": one_line(summary.schedule),
        "company": one_line(summary.company),
        "recipient": one_line(summary.recipient),
        "sent_for": one_line(summary.sent_for),
        "late": _late_reason(summary.sent_for) if summary.late else None,
        "parts": parts,
        "overview": _overview(summary.parts),
        "link": _link(summary.link),
        "link_text": summary.link.strip(),
        "preheader": _preheader(summary),
    }
    environment = _environment()
    html = environment.get_template("summary.html.j2").render(context)
    text = environment.get_template("summary.txt.j2").render(context)
    return html, text
