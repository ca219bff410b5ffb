"""A real SMTP server on loopback for tests (aiosmtpd), that keeps what it accepts and can be told
to refuse.

:class:`SmtpServer` listens on a free port of 127.0.0.1 and stores every accepted message with its
envelope. ``fail_rcpt(code, times)`` / ``fail_data(code, times)`` answer the next RCPTs or DATAs
with that code; ``stop()`` and ``start()`` take it down and up again on the same port (open
connections are closed, as a restarted server would); ``drop_connections()`` closes the open
connections and keeps listening. With ``tls`` it offers STARTTLS (``"starttls"``) or speaks TLS
from the first byte (``"ssl"``) with a certificate made by :func:`make_tls`; with ``login`` it
requires AUTH LOGIN with that user and password, after STARTTLS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class TlsFiles:
    """A certificate authority and a server certificate for 127.0.0.1 and localhost it signed."""

    ca: Path  # what a client trusts (SSL_CERT_FILE)
    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, self.key)
        return context


def make_tls(folder: Path) -> TlsFiles:
    """A fresh CA and a server certificate signed by it (``cryptography``; the tests that need
    TLS skip when it is not installed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kpiboard test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # as it came over the wire (dot-unstuffed)
    message: EmailMessage
    peer: tuple[Any, ...]  # the client's (host, port): the same for messages on one connection
    login: str | None  # the user that logged in, if any


@dataclass
class _Failures:
    code: int = 0
    times: int = 0

    def take(self) -> int | None:
        if self.times <= 0:
            return None
        self.times -= 1
        return self.code


REPLIES = {
    421: "421 4.3.0 Service not available, closing channel",
    450: "450 4.2.0 Mailbox unavailable",
    451: "451 4.3.0 Local error in processing, try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 No such user here",
    552: "552 5.3.4 Message too big",
    553: "553 5.1.3 Mailbox name not allowed",
    554: "554 5.7.1 Message rejected as spam",
}


@dataclass
class _Handler:
    server: SmtpServer
    rcpt: _Failures = field(default_factory=_Failures)
    data: _Failures = field(default_factory=_Failures)
    rcpt_delay: float = 0.0

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        code = self.rcpt.take()
        if code is not None:
            return REPLIES.get(code, f"{code} refused by the test")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        code = self.data.take()
        if code is not None:
            return REPLIES.get(code, f"{code} refused by the test")
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(message, EmailMessage)
        auth: Any = session.auth_data
        login = auth.login.decode() if session.authenticated and auth is not None else None
        self.server.messages.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=raw,
                message=message,
                peer=tuple(session.peer or ()),
                login=login,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's controller that remembers every connection, to close them on demand."""

    def __init__(self, owner: SmtpServer, **kwargs: Any) -> None:
        self.owner = owner
        super().__init__(**kwargs)

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # AUTH over TLS from the first byte is private, though aiosmtpd cannot tell
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            protocol = super().factory()
        self.owner._protocols.append(protocol)
        return protocol


def free_port() -> int:
    """A port of 127.0.0.1 no one listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SmtpServer:
    """A loopback SMTP server for one test; see the module's docstring."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        tls: str | None = None,
        tls_files: TlsFiles | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        if tls not in (None, "starttls", "ssl"):
            raise ValueError(f"tls must be None, 'starttls' or 'ssl', not {tls!r}")
        if tls and tls_files is None:
            raise ValueError("tls needs tls_files (make_tls)")
        self.tls = tls
        self.tls_files = tls_files
        self.login = login
        self.port = free_port()
        self.messages: list[Received] = []
        self.logins: list[tuple[str, bool]] = []  # (user, accepted) for every AUTH tried
        self._handler = _Handler(self)
        self._protocols: list[SMTP] = []
        self._controller: _Controller | None = None
        self._lock = threading.Lock()

    @property
    def ca_file(self) -> Path | None:
        """The CA a client must trust (``SSL_CERT_FILE``) when the server speaks TLS."""
        return self.tls_files.ca if self.tls_files else None

    def fail_rcpt(self, code: int, times: int = 1) -> None:
        """Answer the next ``times`` RCPT commands with ``code``."""
        self._handler.rcpt = _Failures(code, times)

    def delay_rcpt(self, seconds: float) -> None:
        """Answer every RCPT only after ``seconds``: a slow server, whose mails take a moment
        before their DATA begins."""
        self._handler.rcpt_delay = seconds

    def fail_data(self, code: int, times: int = 1) -> None:
        """Answer the next ``times`` messages (the reply after DATA's content) with ``code``."""
        self._handler.data = _Failures(code, times)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.login is not None
            and (data.login.decode(), data.password.decode()) == self.login
        )
        user = data.login.decode() if isinstance(data, LoginPassword) else "?"
        self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=data)

    def _smtp_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port}
        if self.tls == "ssl":
            assert self.tls_files is not None
            options["ssl_context"] = self.tls_files.server_context()
        elif self.tls == "starttls":
            assert self.tls_files is not None
            options["tls_context"] = self.tls_files.server_context()
            options["require_starttls"] = True
        if self.login is not None:
            options["authenticator"] = self._authenticate
            options["auth_required"] = True
            # aiosmtpd knows a connection is private only after its STARTTLS
            options["auth_require_tls"] = self.tls == "starttls"
            options["auth_exclude_mechanism"] = ["PLAIN"]  # AUTH LOGIN only
        return options

    def start(self) -> None:
        """Listen (again) on the same port."""
        with self._lock:
            if self._controller is not None:
                return
            controller = _Controller(self, handler=self._handler, **self._smtp_options())
            controller.start()
            self._controller = controller

    def drop_connections(self) -> None:
        """Close every open client connection; keep listening."""
        controller = self._controller
        if controller is None:
            return

        async def close_all() -> None:
            for protocol in self._protocols:
                transport = getattr(protocol, "transport", None)
                if transport is not None:
                    transport.abort()

        asyncio.run_coroutine_threadsafe(close_all(), controller.loop).result(timeout=5)
        self._protocols.clear()

    def stop(self) -> None:
        """Stop listening and close the open connections (a server going down)."""
        with self._lock:
            if self._controller is None:
                return
            self.drop_connections()
            self._controller.stop()
            self._controller = None
