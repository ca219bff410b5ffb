"""Mail: messages built and sent to a real SMTP server on loopback (aiosmtpd), read back, and
every way a send can fail classified as worth a retry or not; the body read in a browser."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from kpiboard.config import SmtpSettings
from reports import mail
from reports.mail import (
    Attachment,
    Headline,
    Mail,
    Mailer,
    MailError,
    ReportPart,
    Summary,
    build_message,
    check_address,
    message_id,
    safe_filename,
)
from tests.smtp_server import SmtpServer, free_port

FROM = "Acme Reports <reports@acme.com>"
WHEN = dt.datetime(2026, 12, 7, 15, 0, 3, tzinfo=dt.UTC)
PDF = bytes(range(256)) * 40 + b"\r\n.\r\n..\n.end"  # every byte value, and SMTP's dot lines
XLSX = b"PK\x03\x04" + bytes(reversed(range(256))) * 3
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def settings_for(server: SmtpServer, **changes: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "from_address": FROM,
        "timeout_seconds": 5,
    }
    values.update(changes)
    return SmtpSettings(**values)


def a_mail(to: str = "cfo@acme.com", **changes: Any) -> Mail:
    values: dict[str, Any] = {
        "to": to,
        "subject": "Weekly sales pack — 7 December 2026",
        "html": "<p>Revenue <b>$1,204,332</b></p>",
        "text": "Revenue $1,204,332\n",
        "message_id": message_id("d-42-cfo", "acme.com"),
        "attachments": (
            Attachment("Sales by branch - 2026-11.pdf", PDF, "application/pdf"),
            Attachment("Receivables aging.xlsx", XLSX, XLSX_MIME),
        ),
        "headers": (("X-Kpiboard-Delivery", "d-42-cfo"),),
    }
    values.update(changes)
    return Mail(**values)


class Calls:
    """A ``before_data`` hook that counts its calls."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def send(server: SmtpServer, message_or_mail: Mail | EmailMessage, **changes: Any) -> Calls:
    calls = Calls()
    message = (
        build_message(message_or_mail, FROM, date=WHEN)
        if isinstance(message_or_mail, Mail)
        else message_or_mail
    )
    with Mailer(settings_for(server, **changes)) as mailer:
        mailer.send(message, before_data=calls)
    return calls


def content(message: EmailMessage, subtype: str) -> str:
    """The text of the message's plain or HTML alternative, with the wire's CRLF as LF."""
    part = message.get_body((subtype,))
    assert part is not None
    text: str = part.get_content()
    return text.replace("\r\n", "\n")


def refused(action: Callable[[], object]) -> MailError:
    with pytest.raises(MailError) as caught:
        action()
    error = caught.value
    assert "\n" not in str(error) and str(error) == str(error).strip()
    return error


# --- composing ----------------------------------------------------------------------------------


def test_a_sent_message_reads_back_whole(smtp_server: SmtpServer) -> None:
    calls = send(smtp_server, a_mail())
    assert calls.count == 1
    [got] = smtp_server.messages
    assert got.mail_from == "reports@acme.com"
    assert got.rcpt_tos == ("cfo@acme.com",)
    message = got.message
    assert message["Subject"] == "Weekly sales pack — 7 December 2026"
    assert message["To"] == "cfo@acme.com"
    assert message["From"].addresses[0].display_name == "Acme Reports"
    assert message["From"].addresses[0].addr_spec == "reports@acme.com"
    assert message["Message-ID"] == "<d-42-cfo@acme.com>"
    assert message["Date"] == "Mon, 07 Dec 2026 15:00:03 +0000"
    assert message["X-Kpiboard-Delivery"] == "d-42-cfo"
    assert message["Auto-Submitted"] == "auto-generated"

    assert message.get_content_type() == "multipart/mixed"
    alternative, *files = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert content(message, "plain") == "Revenue $1,204,332\n"
    assert content(message, "html") == "<p>Revenue <b>$1,204,332</b></p>\n"
    assert [(f.get_filename(), f.get_content_type(), f.get_content()) for f in files] == [
        ("Sales by branch - 2026-11.pdf", "application/pdf", PDF),
        ("Receivables aging.xlsx", XLSX_MIME, XLSX),
    ]
    assert all(f.get_content_disposition() == "attachment" for f in files)


def test_a_mail_without_attachments_is_still_mixed_around_the_alternatives(
    smtp_server: SmtpServer,
) -> None:
    send(smtp_server, a_mail(attachments=()))
    message = smtp_server.messages[0].message
    assert message.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in message.iter_parts()] == ["multipart/alternative"]


def test_the_same_mail_builds_to_the_same_bytes() -> None:
    first = build_message(a_mail(), FROM, date=WHEN).as_bytes()
    again = build_message(a_mail(), FROM, date=WHEN).as_bytes()
    later = build_message(a_mail(), FROM, date=WHEN + dt.timedelta(hours=1)).as_bytes()
    other = build_message(a_mail(text="Revenue $1\n"), FROM, date=WHEN).as_bytes()
    assert first == again
    assert first != later and first.replace(b"15:00:03", b"16:00:03") == later
    assert first != other
    assert first.isascii()  # 7-bit: any server takes it, with or without 8BITMIME
    assert max(len(line) for line in first.split(b"\r\n")) <= 998
    assert first.count(b"MIME-Version") == 1


def test_a_naive_date_is_utc() -> None:
    message = build_message(a_mail(), FROM, date=dt.datetime(2026, 12, 7, 15, 0, 3))
    assert message["Date"] == "Mon, 07 Dec 2026 15:00:03 +0000"


@pytest.mark.parametrize(
    ("key", "domain", "expected"),
    [
        ("d-42-cfo", "acme.com", "<d-42-cfo@acme.com>"),
        ("d-42", "Acme Reports <reports@Acme.COM>", "<d-42@acme.com>"),
        ("d-42", "reports@acme.com", "<d-42@acme.com>"),
        (
            "weekly pack/2026-12-07 08:00@x",
            "acme.com",
            "<weekly=20pack/2026-12-07=2008=3A00=40x@acme.com>",
        ),
        ("ä<>", "acme.com", "<=C3=A4=3C=3E@acme.com>"),
    ],
)
def test_message_id(key: str, domain: str, expected: str) -> None:
    assert message_id(key, domain) == expected
    assert message_id(key, domain) == message_id(key, domain)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cfo@acme.com", "cfo@acme.com"),
        ("  CFO@Acme.COM ", "CFO@acme.com"),
        ("Dana Whitfield <dana@acme.com>", "dana@acme.com"),
        ("first.last+reports@sub.acme.co.uk", "first.last+reports@sub.acme.co.uk"),
        ("kpiboard@localhost", "kpiboard@localhost"),
        ("info@bücher.de", "info@xn--bcher-kva.de"),
    ],
)
def test_check_address_accepts_and_normalises(text: str, expected: str) -> None:
    assert check_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "cfo",
        "cfo@",
        "@acme.com",
        "cfo@acme",
        "cfo@@acme.com",
        "cfo @acme.com",
        "cfo@acme.com\r\nBcc: evil@x.com",
        "cfo@acme.com, evil@x.com",
        ".cfo@acme.com",
        "c..fo@acme.com",
        "cfo@-acme.com",
        "cfo@acme..com",
        "jörg@acme.com",
        "x" * 65 + "@acme.com",
        "",
    ],
)
def test_check_address_refuses(text: str) -> None:
    error = refused(lambda: check_address(text))
    assert str(error) == f"{text.strip()!r}: not an email address"
    assert error.permanent and error.code is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sales by branch - 2026-11.pdf", "Sales by branch - 2026-11.pdf"),
        ("../../etc/passwd", "etc_passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ('Q4: "best" <branch>|*?.pdf', "Q4_ _best_ _branch____.pdf"),
        ("two\r\nlines\t.pdf", "two__lines_.pdf"),
        ("invoice\u202efdp.exe", "invoice_fdp.exe"),
        ("Umsätze Köln.xlsx", "Umsätze Köln.xlsx"),
        ("report. . .", "report"),
        ("", "attachment"),
        ("...", "attachment"),
        ("CON.pdf", "_CON.pdf"),
        ("  spaced    out  .pdf", "spaced out .pdf"),
    ],
)
def test_safe_filename(text: str, expected: str) -> None:
    assert safe_filename(text) == expected


def test_a_long_filename_keeps_its_extension() -> None:
    name = safe_filename("é" * 300 + ".xlsx")
    assert len(name) == 120 and name == "é" * 115 + ".xlsx"
    assert len(safe_filename("x" * 500)) == 120


HOSTILE_SUBJECTS = [
    ("Sales\r\nBcc: evil@x.com", "Sales Bcc: evil@x.com"),
    ("Sales\nContent-Type: text/html\n\n<script>", "Sales Content-Type: text/html <script>"),
    ("Sales\rX-Injected: 1", "Sales X-Injected: 1"),
    ("Umsätze Köln — März 📈", "Umsätze Köln — März 📈"),
    ("Sales\u2028Bcc: evil@x.com\x00\x0b", "Sales Bcc: evil@x.com"),
]


@pytest.mark.parametrize(("subject", "expected"), HOSTILE_SUBJECTS)
def test_a_hostile_subject_stays_one_header(
    smtp_server: SmtpServer, subject: str, expected: str
) -> None:
    send(smtp_server, a_mail(subject=subject))
    got = smtp_server.messages[0]
    assert got.message["Subject"] == expected
    assert got.rcpt_tos == ("cfo@acme.com",)
    assert got.message.get_all("Bcc") is None and got.message.get_all("X-Injected") is None
    assert len(got.message.get_all("Subject") or []) == 1
    assert len(got.message.get_all("Content-Type") or []) == 1
    assert got.message.get_content_type() == "multipart/mixed"
    assert got.data.isascii()


def test_a_10_kb_subject_is_cut_and_folded(smtp_server: SmtpServer) -> None:
    send(smtp_server, a_mail(subject="Ü" + "x" * 5_000 + " y" * 2_500))
    got = smtp_server.messages[0]
    subject = got.message["Subject"]
    assert len(subject) == mail.MAX_SUBJECT and subject.startswith("Üxxx") and subject.endswith("…")
    assert all(len(line) <= 998 for line in got.data.split(b"\r\n"))
    assert content(got.message, "plain") == "Revenue $1,204,332\n"


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd",
        "report\r\nContent-Type: text/html\r\n\r\n<b>x</b>.pdf",
        "Umsätze Köln – Q4 ☃.pdf",
        "é" * 300 + ".pdf",
        'a"; name="evil.exe',
    ],
)
def test_a_hostile_filename_arrives_safe_with_its_bytes(
    smtp_server: SmtpServer, filename: str
) -> None:
    send(smtp_server, a_mail(attachments=(Attachment(filename, PDF, "application/pdf"),)))
    message = smtp_server.messages[0].message
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == safe_filename(filename)
    assert not set('/\\:*?"<>|\r\n') & set(attachment.get_filename() or "")
    assert attachment.get_content() == PDF
    assert len(message.get_all("Content-Type") or []) == 1


def test_extra_headers_are_folded_and_cannot_replace_ours(smtp_server: SmtpServer) -> None:
    send(smtp_server, a_mail(headers=(("X-Kpiboard-Delivery", "d-1\r\nBcc: evil@x.com"),)))
    message = smtp_server.messages[0].message
    assert message["X-Kpiboard-Delivery"] == "d-1 Bcc: evil@x.com"
    assert message.get_all("Bcc") is None
    for name in ("Bcc", "To", "subject", "X-A\r\nBcc", "X A", ""):
        with pytest.raises(ValueError, match="extra header"):
            build_message(a_mail(headers=((name, "x"),)), FROM)


def test_a_malformed_message_id_is_refused() -> None:
    with pytest.raises(ValueError, match="not of the form <key@domain>"):
        build_message(a_mail(message_id="<a@b>\r\nBcc: x@y.com"), FROM)


# --- sending and failing -------------------------------------------------------------------------


def test_a_batch_reuses_one_connection(smtp_server: SmtpServer) -> None:
    with Mailer(settings_for(smtp_server)) as mailer:
        for to in ("a@acme.com", "b@acme.com", "c@acme.com"):
            mailer.send(build_message(a_mail(to=to), FROM, date=WHEN))
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ("a@acme.com",),
        ("b@acme.com",),
        ("c@acme.com",),
    ]
    assert len({m.peer for m in smtp_server.messages}) == 1


@pytest.mark.parametrize(
    ("code", "permanent"), [(450, False), (451, False), (550, True), (553, True)]
)
def test_a_refused_recipient(smtp_server: SmtpServer, code: int, permanent: bool) -> None:
    smtp_server.fail_rcpt(code)
    calls = Calls()
    with Mailer(settings_for(smtp_server)) as mailer:
        error = refused(
            lambda: mailer.send(build_message(a_mail(), FROM, date=WHEN), before_data=calls)
        )
        assert (error.permanent, error.code, error.maybe_delivered) == (permanent, code, False)
        assert calls.count == 0 and smtp_server.messages == []
        # the same connection sends the next one of the batch
        mailer.send(build_message(a_mail(to="b@acme.com"), FROM, date=WHEN), before_data=calls)
    assert calls.count == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [("b@acme.com",)]


def test_the_refusal_reads_as_one_line_naming_the_recipient(smtp_server: SmtpServer) -> None:
    smtp_server.fail_rcpt(550)
    error = refused(lambda: send(smtp_server, a_mail()))
    assert str(error) == (
        f"the mail server 127.0.0.1:{smtp_server.port} refused cfo@acme.com: "
        "550 5.1.1 No such user here"
    )


@pytest.mark.parametrize(
    ("code", "permanent"), [(451, False), (452, False), (552, True), (554, True)]
)
def test_a_refused_message(smtp_server: SmtpServer, code: int, permanent: bool) -> None:
    smtp_server.fail_data(code)
    calls = Calls()
    with Mailer(settings_for(smtp_server)) as mailer:
        error = refused(
            lambda: mailer.send(build_message(a_mail(), FROM, date=WHEN), before_data=calls)
        )
        assert (error.permanent, error.code, error.maybe_delivered) == (permanent, code, False)
        assert calls.count == 1
        assert str(error).startswith(
            f"the mail server 127.0.0.1:{smtp_server.port} refused the message to cfo@acme.com: "
            f"{code} "
        )
        mailer.send(build_message(a_mail(), FROM, date=WHEN), before_data=calls)
    assert calls.count == 2 and len(smtp_server.messages) == 1


def test_a_temporary_refusal_then_success_is_one_message(smtp_server: SmtpServer) -> None:
    smtp_server.fail_rcpt(451, times=2)
    message = build_message(a_mail(), FROM, date=WHEN)
    with Mailer(settings_for(smtp_server)) as mailer:
        for _ in range(2):
            assert refused(lambda: mailer.send(message)).code == 451
        mailer.send(message)
    assert len(smtp_server.messages) == 1


def test_nobody_listening_is_worth_a_retry() -> None:
    port = free_port()
    settings = SmtpSettings(host="127.0.0.1", port=port, timeout_seconds=2)
    error = refused(lambda: Mailer(settings).connect())
    assert not error.permanent and error.code is None
    assert (
        str(error) == f"could not connect to the mail server 127.0.0.1:{port}: connection refused"
    )


def test_a_server_that_never_greets_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = SmtpSettings(host="127.0.0.1", port=port, timeout_seconds=0.3)
        error = refused(lambda: Mailer(settings).send(build_message(a_mail(), FROM)))
    assert not error.permanent
    assert str(error) == f"the mail server 127.0.0.1:{port} did not answer within 0.3 s"


def test_a_server_down_then_up_again(smtp_server: SmtpServer) -> None:
    calls = Calls()
    with Mailer(settings_for(smtp_server)) as mailer:
        mailer.send(build_message(a_mail(to="a@acme.com"), FROM), before_data=calls)
        smtp_server.stop()
        error = refused(
            lambda: mailer.send(build_message(a_mail(to="b@acme.com"), FROM), before_data=calls)
        )
        assert not error.permanent and "connection refused" in str(error)
        smtp_server.start()
        mailer.send(build_message(a_mail(to="b@acme.com"), FROM), before_data=calls)
    assert calls.count == 2
    assert [m.rcpt_tos for m in smtp_server.messages] == [("a@acme.com",), ("b@acme.com",)]


def test_a_dropped_connection_is_opened_again_once(smtp_server: SmtpServer) -> None:
    calls = Calls()
    with Mailer(settings_for(smtp_server)) as mailer:
        mailer.send(build_message(a_mail(to="a@acme.com"), FROM), before_data=calls)
        smtp_server.drop_connections()
        mailer.send(build_message(a_mail(to="b@acme.com"), FROM), before_data=calls)
    assert calls.count == 2
    first, second = smtp_server.messages
    assert second.rcpt_tos == ("b@acme.com",) and first.peer != second.peer


def test_a_hook_that_raises_sends_nothing_and_leaves_the_connection_usable(
    smtp_server: SmtpServer,
) -> None:
    def crash() -> None:
        raise RuntimeError("the delivery log is locked")

    with Mailer(settings_for(smtp_server)) as mailer:
        with pytest.raises(RuntimeError, match="locked"):
            mailer.send(build_message(a_mail(to="a@acme.com"), FROM), before_data=crash)
        mailer.send(build_message(a_mail(to="b@acme.com"), FROM))
    assert [m.rcpt_tos for m in smtp_server.messages] == [("b@acme.com",)]


def test_starttls_asked_of_a_server_without_it(smtp_server: SmtpServer) -> None:
    error = refused(lambda: send(smtp_server, a_mail(), starttls=True))
    assert error.permanent
    assert str(error) == (
        f"the mail server 127.0.0.1:{smtp_server.port} does not offer STARTTLS; "
        "set starttls = false or use ssl"
    )


@pytest.fixture
def tls_server(
    smtp_server_factory: Callable[..., SmtpServer], monkeypatch: pytest.MonkeyPatch
) -> Iterator[SmtpServer]:
    server = smtp_server_factory(tls="starttls", login=("reports", "s3cret"))
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
    yield server


def test_starttls_and_login(tls_server: SmtpServer) -> None:
    calls = send(tls_server, a_mail(), starttls=True, username="reports", password="s3cret")
    assert calls.count == 1
    [got] = tls_server.messages
    assert got.login == "reports" and got.message["Subject"].startswith("Weekly sales pack")
    assert tls_server.logins == [("reports", True)]


def test_a_wrong_password_is_permanent(tls_server: SmtpServer) -> None:
    calls = Calls()
    settings = settings_for(tls_server, starttls=True, username="reports", password="wrong")
    error = refused(lambda: Mailer(settings).send(build_message(a_mail(), FROM), before_data=calls))
    assert (error.permanent, error.code) == (True, 535)
    assert str(error).startswith(
        f"the mail server 127.0.0.1:{tls_server.port} refused the login of 'reports': 535 "
    )
    assert "wrong" not in str(error)
    assert calls.count == 0 and tls_server.messages == []


def test_a_server_that_wants_a_login_refuses_the_sender_without_one(
    tls_server: SmtpServer,
) -> None:
    error = refused(lambda: send(tls_server, a_mail(), starttls=True))
    assert error.permanent and error.code == 530
    assert "refused the sender reports@acme.com: 530" in str(error)


def test_a_user_without_a_password(tls_server: SmtpServer) -> None:
    error = refused(lambda: send(tls_server, a_mail(), starttls=True, username="reports"))
    assert error.permanent
    assert str(error) == "[smtp] username is 'reports' but KPIBOARD_SMTP_PASSWORD is not set"


def test_login_before_starttls_is_not_offered(tls_server: SmtpServer) -> None:
    error = refused(lambda: send(tls_server, a_mail(), username="reports", password="s3cret"))
    assert error.permanent and "does not offer AUTH" in str(error)


def test_an_untrusted_certificate_is_permanent(
    smtp_server_factory: Callable[..., SmtpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = smtp_server_factory(tls="starttls")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    error = refused(lambda: send(server, a_mail(), starttls=True))
    assert error.permanent
    assert "TLS certificate is not trusted" in str(error)
    assert server.messages == []


def test_tls_from_the_first_byte(
    smtp_server_factory: Callable[..., SmtpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = smtp_server_factory(tls="ssl", login=("reports", "s3cret"))
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
    send(server, a_mail(), ssl=True, username="reports", password="s3cret")
    assert [m.login for m in server.messages] == ["reports"]


def test_two_servers_at_once(smtp_server_factory: Callable[..., SmtpServer]) -> None:
    first, second = smtp_server_factory(), smtp_server_factory()
    assert first.port != second.port
    send(first, a_mail(to="a@acme.com"))
    send(second, a_mail(to="b@acme.com"))
    assert [m.rcpt_tos for m in first.messages] == [("a@acme.com",)]
    assert [m.rcpt_tos for m in second.messages] == [("b@acme.com",)]


# --- the body -----------------------------------------------------------------------------------


def sample_summary(**changes: Any) -> Summary:
    values: dict[str, Any] = {
        "schedule": "Weekly sales pack",
        "company": "Acme Office Supply",
        "recipient": "Dana Whitfield",
        "parts": (
            ReportPart(
                "Sales by branch",
                "November 2026",
                "All branches",
                (
                    Headline("Revenue", "$1,204,332"),
                    Headline("Gross margin", "31.4%"),
                    Headline("Orders", "4,210"),
                ),
                "Sales by branch - 2026-11.pdf",
                214,
            ),
            ReportPart(
                "Receivables aging",
                "as of 30 November 2026",
                "Denver",
                (Headline("Open receivables", "$312,900"), Headline("Share overdue", "13.2%")),
                None,
                1873,
            ),
            ReportPart(
                "Pipeline funnel",
                "November 2026",
                "All branches",
                (),
                None,
                0,
                error="the warehouse was being rebuilt",
            ),
        ),
        "link": "https://kpi.acme.com/reports",
        "sent_for": "Monday 7 December 2026, 08:00 America/Denver",
    }
    values.update(changes)
    return Summary(**values)


def test_the_text_body_says_everything_with_numbers_in_a_column() -> None:
    _, text = mail.body(sample_summary(late=True))
    assert text.startswith(
        "Weekly sales pack — Acme Office Supply\n"
        "For Monday 7 December 2026, 08:00 America/Denver\n"
        "Prepared for Dana Whitfield\n\n"
        "Sent late: the scheduler was down at 08:00.\n\n"
        "3 reports: 1 attached, 1 on the Reports page, 1 could not be produced\n"
    )
    assert (
        "Sales by branch\n---------------\nNovember 2026 · All branches\n"
        "  Revenue        $1,204,332\n"
        "  Gross margin        31.4%\n"
        "  Orders              4,210\n"
        "Attached: Sales by branch - 2026-11.pdf (214 rows)\n"
    ) in text
    assert "1,873 rows, on the Reports page\n" in text
    assert "Pipeline funnel\n---------------\nNovember 2026 · All branches\n" in text
    assert "Not produced: the warehouse was being rebuilt\n" in text
    assert "Open the Reports page: https://kpi.acme.com/reports\n" in text
    assert "\n\n\n" not in text


def test_on_time_says_nothing_of_lateness() -> None:
    html, text = mail.body(sample_summary())
    assert "late" not in text.lower() and "Sent late" not in html


def test_the_html_body_is_escaped_and_mail_safe() -> None:
    hostile = '<script>alert(1)</script> & "x"'
    summary = sample_summary(
        schedule=hostile,
        parts=(
            ReportPart(hostile, "Nov", "All", (Headline(hostile, "<b>1</b>"),), "<x>.pdf", 1),
            ReportPart("Broken", "Nov", "All", (), None, 0, error="<img src=x onerror=y>"),
        ),
    )
    html, text = mail.body(summary)
    assert "<script>" not in html and "<b>1</b>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;" in html
    assert "&lt;b&gt;1&lt;/b&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text is not HTML: not escaped
    assert "<style" not in html and "<link" not in html  # mail clients drop them


def test_only_web_links_are_links() -> None:
    html, text = mail.body(sample_summary(link="javascript:alert(1)"))
    assert "javascript:" not in html and "Open the Reports page" not in html
    assert "javascript:" not in text


def test_at_most_six_headlines() -> None:
    many = tuple(Headline(f"Measure {i}", f"{i},000") for i in range(1, 10))
    part = ReportPart("Sales", "Nov", "All", many, "s.pdf", 3)
    html, text = mail.body(sample_summary(parts=(part,)))
    assert "Measure 6" in html and "Measure 7" not in html
    assert "Measure 6" in text and "Measure 7" not in text


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


@pytest.mark.parametrize("width", [800, 375])
def test_the_html_body_in_a_browser(browser: Any, width: int) -> None:
    html, _ = mail.body(sample_summary(late=True))
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.set_content(html)
    card = page.locator("table[width='600']").bounding_box()
    assert card["width"] <= 600 and card["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
    values = page.locator("td[align='right']")
    assert values.all_inner_texts() == ["$1,204,332", "31.4%", "4,210", "$312,900", "13.2%"]
    edges = {round(box["x"] + box["width"]) for box in (v.bounding_box() for v in values.all())}
    assert len(edges) == 1  # every number ends on one right edge
    styles = page.evaluate(
        """[...document.querySelectorAll("td[align='right']")].map(td => {
             const s = getComputedStyle(td); return [s.textAlign, s.fontVariantNumeric]; })"""
    )
    assert all(style == ["right", "tabular-nums"] for style in styles)
    assert page.get_by_text("Sent late:").is_visible()
    assert page.get_by_role("link", name="Open the Reports page").get_attribute("href") == (
        "https://kpi.acme.com/reports"
    )
    page.close()
