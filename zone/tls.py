"""TLS for zones and agents: a development PKI, SSL contexts, and the agent identity.

A SIF zone over HTTPS authenticates agents by client certificate: the certificate's
subject CN is the agent's SIF_SourceId, and the zone refuses messages whose SIF_SourceId
differs from the CN of the connection that carried them.

* `make_dev_pki` writes a throw-away CA, a server certificate for the zone and one client
  certificate per agent (ECDSA P-256, SHA-256) for development, demos and tests.
  Production deployments bring their own certificates; nothing here is needed for that.
* `server_context` / `client_context` build `ssl.SSLContext`s (TLS 1.2 or newer) for the
  zone server and for agents.
* `peer_identity` reads the verified client certificate's CN from a connection.

Pure library: only the standard library's `ssl` and `cryptography`; no event loop, no CLI.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_SERVER_NAMES",
    "ClientFiles",
    "DevPKI",
    "PKIExistsError",
    "client_context",
    "make_dev_pki",
    "peer_identity",
    "server_context",
]

DEFAULT_SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server.pem", "server-key.pem"

_MAX_CN = 64  # X.520 ub-common-name, and SIF_SourceId's maxLength
_CLOCK_SKEW = _dt.timedelta(minutes=5)
_ORG = "Student Locator Framework (development)"


class PKIExistsError(FileExistsError):
    """The output directory already holds a development PKI (or some of its files)."""


@dataclass(frozen=True)
class ClientFiles:
    """One agent's certificate and key; `name` is the certificate CN and the agent's SIF_SourceId."""

    name: str
    cert: Path
    key: Path


@dataclass(frozen=True)
class DevPKI:
    """The files `make_dev_pki` wrote."""

    out_dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    clients: tuple[ClientFiles, ...] = ()

    def client(self, name: str) -> ClientFiles:
        for c in self.clients:
            if c.name == name:
                return c
        raise KeyError(name)

    def files(self) -> tuple[Path, ...]:
        """Every file written, CA first, in writing order."""
        out = [self.ca_cert, self.ca_key, self.server_cert, self.server_key]
        for c in self.clients:
            out += [c.cert, c.key]
        return tuple(out)

    def key_files(self) -> tuple[Path, ...]:
        return (self.ca_key, self.server_key, *(c.key for c in self.clients))


# --------------------------------------------------------------------------- names


def _check_client_name(name: str) -> None:
    """A client name is both a certificate CN / SIF_SourceId (xs:token, ≤ 64) and a file stem."""
    if not isinstance(name, str) or not name:
        raise ValueError("client names must be non-empty strings (they become the agent's SIF_SourceId)")
    if len(name) > _MAX_CN:
        raise ValueError(f"client name {name!r} is longer than {_MAX_CN} characters "
                         "(the limit for a certificate CN and a SIF_SourceId)")
    if name != " ".join(name.split()) or any(not ch.isprintable() for ch in name):
        raise ValueError(f"client name {name!r} is not a SIF_SourceId: no leading, trailing or "
                         "repeated spaces, tabs, newlines or control characters")
    if "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"client name {name!r} cannot be used as a file name "
                         "(no '/', '\\' and no leading '.')")


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host or not host.isascii() or any(ch.isspace() for ch in host) or "/" in host:
        raise ValueError(f"server name {host!r} is neither an IP address nor an ASCII DNS name "
                         "(use the punycode form, xn--…, for international names)")
    return x509.DNSName(host.rstrip(".").lower())


def _planned_files(out_dir: Path, clients: Iterable[str]) -> tuple[DevPKI, list[Path]]:
    pki = DevPKI(
        out_dir=out_dir,
        ca_cert=out_dir / CA_CERT,
        ca_key=out_dir / CA_KEY,
        server_cert=out_dir / SERVER_CERT,
        server_key=out_dir / SERVER_KEY,
        clients=tuple(ClientFiles(n, out_dir / f"{n}.pem", out_dir / f"{n}-key.pem") for n in clients),
    )
    files = list(pki.files())
    seen: dict[str, Path] = {}
    for p in files:  # case-insensitive: macOS and Windows file systems fold case
        other = seen.setdefault(p.name.casefold(), p)
        if other is not p:
            raise ValueError(f"two files would be named {p.name!r}: choose client names that do not "
                             f"clash with each other or with ca/server (client 'x' writes x.pem and x-key.pem)")
    return pki, files


# --------------------------------------------------------------------------- certificates


def _name(cn: str, unit: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _leaf(subject: x509.Name, key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
          ca_key: ec.EllipticCurvePrivateKey, now: _dt.datetime, days: int,
          eku: x509.ObjectIdentifier, san: list[x509.GeneralName] | None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _ca(now: _dt.datetime, days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    subject = _name("SLF Development CA", "Development CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write through a temporary file in the same directory, then rename over `path`.

    Private keys are created 0600 from the start (never briefly world-readable).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o600 if private else 0o644)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def make_dev_pki(out_dir: Path, *, server_names: Iterable[str] = DEFAULT_SERVER_NAMES,
                 clients: Iterable[str] = ("agent",), days: int = 825,
                 force: bool = False) -> DevPKI:
    """Write a development CA, a zone server certificate and one client certificate per agent.

    Files (PEM; keys are unencrypted PKCS#8 with mode 0600):
    ``ca.pem``, ``ca-key.pem``, ``server.pem``, ``server-key.pem`` and, for each client
    name, ``<name>.pem`` and ``<name>-key.pem``. The client certificate's CN is the name,
    which must be the agent's SIF_SourceId.

    `server_names` become the server certificate's subjectAltName (IP addresses as IP
    entries, anything else as DNS names); the first is also its CN. Certificates are valid
    for `days` days (825 is the longest validity clients such as macOS accept for servers).

    Refuses with `PKIExistsError` when `out_dir` already holds a CA or any file it would
    write, unless `force` is true. Raises `ValueError` for unusable names.
    """
    out_dir = Path(out_dir)
    server_names = tuple(server_names)
    clients = tuple(clients)
    if not server_names:
        raise ValueError("at least one server name (DNS name or IP address) is needed")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive whole number, not {days!r}")
    san: list[x509.GeneralName] = []
    for host in server_names:
        gn = _general_name(host)
        if gn not in san:
            san.append(gn)
    if len(server_names[0]) > _MAX_CN:
        raise ValueError(f"server name {server_names[0]!r} is longer than {_MAX_CN} characters; "
                         "put a shorter name first (it becomes the CN)")
    for name in clients:
        _check_client_name(name)
    if len(set(clients)) != len(clients):
        raise ValueError(f"client names must be unique: {list(clients)}")
    pki, files = _planned_files(out_dir, clients)

    if not force:
        if pki.ca_cert.exists() or pki.ca_key.exists():
            raise PKIExistsError(
                f"{out_dir} already holds a development CA ({CA_CERT}); replacing it makes every "
                f"certificate it signed untrusted. Pass --force (force=True) to replace it, "
                f"or choose another --out directory.")
        existing = [p.name for p in files if p.exists()]
        if existing:
            raise PKIExistsError(
                f"{out_dir} already holds {', '.join(existing)}. Pass --force (force=True) to "
                f"overwrite, or choose another --out directory.")
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a directory; choose another --out")

    # Everything is generated in memory first: a bad name or a crypto error writes nothing.
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    ca_cert, ca_key = _ca(now, days)
    server_key = _new_key()
    server_cert = _leaf(_name(server_names[0], "Zone Integration Server"), server_key, ca_cert,
                        ca_key, now, days, ExtendedKeyUsageOID.SERVER_AUTH, san)
    outputs: list[tuple[Path, bytes, bool]] = [
        (pki.ca_cert, _cert_pem(ca_cert), False),
        (pki.ca_key, _key_pem(ca_key), True),
        (pki.server_cert, _cert_pem(server_cert), False),
        (pki.server_key, _key_pem(server_key), True),
    ]
    for c in pki.clients:
        key = _new_key()
        cert = _leaf(_name(c.name, "SIF agent"), key, ca_cert, ca_key, now, days,
                     ExtendedKeyUsageOID.CLIENT_AUTH, None)
        outputs += [(c.cert, _cert_pem(cert), False), (c.key, _key_pem(key), True)]

    out_dir.mkdir(parents=True, exist_ok=True)
    for path, data, private in outputs:
        _write(path, data, private=private)
    return pki


# --------------------------------------------------------------------------- contexts


def server_context(cert: Path, key: Path, *, client_ca: Path | None = None,
                   require_client_cert: bool = False) -> ssl.SSLContext:
    """An SSL context for the zone server (TLS 1.2 or newer).

    With `client_ca`, clients may present a certificate signed by that CA
    (`CERT_OPTIONAL`), or must (`CERT_REQUIRED`) when `require_client_cert` is true;
    a certificate that does not verify always fails the handshake. OpenSSL checks a client
    certificate's extendedKeyUsage allows clientAuth.
    """
    if require_client_cert and client_ca is None:
        raise ValueError("require_client_cert needs client_ca: the CA that signs agent certificates")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(os.fspath(cert), os.fspath(key))
    if client_ca is not None:
        ctx.load_verify_locations(cafile=os.fspath(client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx


def client_context(ca: Path | None, *, cert: Path | None = None,
                   key: Path | None = None) -> ssl.SSLContext:
    """An SSL context for an agent (TLS 1.2 or newer).

    Verifies the server certificate and host name against `ca` (the system's trusted CAs
    when `ca` is None) and presents `cert`/`key` as the client certificate when given
    (`key` may be omitted when the key is in the `cert` file).
    """
    if key is not None and cert is None:
        raise ValueError("a client key without a client certificate: pass cert as well")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=os.fspath(ca) if ca is not None else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cert is not None:
        ctx.load_cert_chain(os.fspath(cert), os.fspath(key) if key is not None else None)
    return ctx


# --------------------------------------------------------------------------- identity


def peer_identity(peer: Any) -> str | None:
    """The agent identity of a TLS connection: its verified client certificate's subject CN.

    `peer` may be an `ssl.SSLObject` / `ssl.SSLSocket` (e.g. aiohttp's
    ``request.transport.get_extra_info("ssl_object")``), the dict `getpeercert()` returns
    (``get_extra_info("peercert")``), an asyncio transport, or None.

    Returns None when there is no verified client certificate (plain HTTP, no certificate,
    or a context that does not verify) or when the subject has no CN or several different
    ones. Only the decoded form of `getpeercert()` is read, which Python fills in only for
    certificates that passed verification.
    """
    if peer is None:
        return None
    if isinstance(peer, Mapping):
        cert: Any = peer
    elif hasattr(peer, "getpeercert"):
        try:
            cert = peer.getpeercert()
        except ValueError:  # handshake not done yet
            return None
    elif hasattr(peer, "get_extra_info"):
        cert = peer.get_extra_info("peercert")
    else:
        raise TypeError(f"peer_identity needs an SSL object, a peercert dict or a transport, "
                        f"not {type(peer).__name__}")
    if not cert:
        return None
    names = {value for rdn in cert.get("subject", ()) for (attr, value) in rdn if attr == "commonName"}
    if len(names) != 1:
        return None
    return names.pop()
