"""zone.tls and `slf certs dev`: a development PKI used for real mutual-TLS HTTPS."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from slf.certs import DEFAULT_CLIENTS
from slf.cli import main
from zone.tls import (DevPKI, PKIExistsError, client_context, make_dev_pki, peer_identity,
                      server_context)

AGENT = "District043802-SIS"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> DevPKI:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), clients=(AGENT, "ITC01-StudentLocator"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory) -> DevPKI:
    """A second, unrelated CA: nothing it signs is trusted by `pki`, and vice versa."""
    return make_dev_pki(tmp_path_factory.mktemp("other"), clients=(AGENT,))


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cn(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


# --------------------------------------------------------------------------- the PKI files


def test_files_written_with_private_keys_0600(pki):
    assert [p.name for p in pki.files()] == [
        "ca.pem", "ca-key.pem", "server.pem", "server-key.pem",
        f"{AGENT}.pem", f"{AGENT}-key.pem", "ITC01-StudentLocator.pem", "ITC01-StudentLocator-key.pem"]
    for path in pki.files():
        assert path.parent == pki.out_dir and path.is_file()
    for key in pki.key_files():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        assert b"BEGIN PRIVATE KEY" in key.read_bytes()
    assert not list(pki.out_dir.glob("*.tmp"))
    assert pki.client(AGENT).cert.name == f"{AGENT}.pem"
    with pytest.raises(KeyError):
        pki.client("nobody")


def test_ca_certificate(pki):
    ca = load(pki.ca_cert)
    assert ca.issuer == ca.subject
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA256)
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert key.public_key() == ca.public_key()


def test_server_certificate(pki):
    ca, server = load(pki.ca_cert), load(pki.server_cert)
    server.verify_directly_issued_by(ca)
    assert isinstance(server.signature_hash_algorithm, hashes.SHA256)
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)
    assert server.public_key().curve.name == "secp256r1"
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                      ipaddress.ip_address("::1")]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days in (825, 826)


def test_client_certificates_carry_the_source_id(pki):
    ca = load(pki.ca_cert)
    for client in pki.clients:
        cert = load(client.cert)
        cert.verify_directly_issued_by(ca)
        assert cn(cert) == client.name
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        key = serialization.load_pem_private_key(client.key.read_bytes(), None)
        assert key.public_key() == cert.public_key()


def test_refuses_to_overwrite_a_ca_unless_forced(tmp_path):
    first = make_dev_pki(tmp_path, clients=("a",))
    before = first.ca_cert.read_bytes()
    with pytest.raises(PKIExistsError, match="--force.*--out"):
        make_dev_pki(tmp_path, clients=("b",))
    assert first.ca_cert.read_bytes() == before and not (tmp_path / "b.pem").exists()
    again = make_dev_pki(tmp_path, clients=("a",), force=True)
    assert again.ca_cert.read_bytes() != before
    load(again.client("a").cert).verify_directly_issued_by(load(again.ca_cert))
    assert stat.S_IMODE(again.ca_key.stat().st_mode) == 0o600


def test_refuses_to_overwrite_other_files_too(tmp_path):
    (tmp_path / "server.pem").write_text("mine")
    with pytest.raises(PKIExistsError, match="server.pem"):
        make_dev_pki(tmp_path)
    assert (tmp_path / "server.pem").read_text() == "mine"


@pytest.mark.parametrize("clients", [("ca",), ("server",), ("x", "x-key"), ("a/b",), ("..",),
                                     ("",), (" lead",), ("two  spaces",), ("x" * 65,), ("a", "a"),
                                     ("Ca",)])
def test_rejects_client_names_that_are_not_source_ids_or_clash(tmp_path, clients):
    with pytest.raises(ValueError):
        make_dev_pki(tmp_path / "out", clients=clients)
    assert not (tmp_path / "out").exists()


def test_rejects_bad_server_names_and_days(tmp_path):
    with pytest.raises(ValueError):
        make_dev_pki(tmp_path, server_names=())
    with pytest.raises(ValueError):
        make_dev_pki(tmp_path, server_names=("bad host",))
    with pytest.raises(ValueError):
        make_dev_pki(tmp_path, days=0)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- contexts


def test_contexts_require_tls_1_2_or_newer(pki):
    server = server_context(pki.server_cert, pki.server_key)
    assert server.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert server.verify_mode == ssl.CERT_NONE
    optional = server_context(pki.server_cert, pki.server_key, client_ca=pki.ca_cert)
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    required = server_context(pki.server_cert, pki.server_key, client_ca=pki.ca_cert,
                              require_client_cert=True)
    assert required.verify_mode == ssl.CERT_REQUIRED
    client = client_context(pki.ca_cert)
    assert client.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname


def test_context_argument_errors(pki):
    with pytest.raises(ValueError, match="client_ca"):
        server_context(pki.server_cert, pki.server_key, require_client_cert=True)
    with pytest.raises(ValueError):
        client_context(pki.ca_cert, key=pki.client(AGENT).key)
    with pytest.raises(ssl.SSLError):  # a key that does not match the certificate
        client_context(pki.ca_cert, cert=pki.client(AGENT).cert, key=pki.server_key)


def test_peer_identity_reads_the_common_name():
    subject = ((("organizationName", "SLF"),), (("commonName", AGENT),))
    assert peer_identity({"subject": subject}) == AGENT
    assert peer_identity(None) is None
    assert peer_identity({}) is None  # what getpeercert() gives for an unverified peer
    assert peer_identity({"subject": ((("organizationName", "SLF"),),)}) is None
    two = ((("commonName", "a"),), (("commonName", "b"),))
    assert peer_identity({"subject": two}) is None
    with pytest.raises(TypeError):
        peer_identity(42)


# --------------------------------------------------------------------------- real HTTPS


class Zone:
    """A real aiohttp HTTPS server on 127.0.0.1 that records who each request came from."""

    def __init__(self, ctx: ssl.SSLContext):
        self.ctx = ctx
        self.seen: list[tuple[str | None, str | None]] = []

    async def handler(self, request: web.Request) -> web.Response:
        ssl_object = request.transport.get_extra_info("ssl_object")
        peercert = request.transport.get_extra_info("peercert")
        self.seen.append((peer_identity(ssl_object), peer_identity(peercert)))
        return web.Response(text=peer_identity(ssl_object) or "-")

    async def __aenter__(self) -> "Zone":
        app = web.Application()
        app.router.add_get("/zone", self.handler)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ctx)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}/zone"
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def mtls(pki: DevPKI, *, require: bool = True) -> ssl.SSLContext:
    return server_context(pki.server_cert, pki.server_key, client_ca=pki.ca_cert,
                          require_client_cert=require)


async def get(url: str, ctx: ssl.SSLContext) -> httpx.Response:
    async with httpx.AsyncClient(verify=ctx, timeout=10) as client:
        return await client.get(url)


async def test_mutual_tls_request_carries_the_agent_identity(pki):
    async with Zone(mtls(pki)) as zone:
        for name in (AGENT, "ITC01-StudentLocator"):
            files = pki.client(name)
            response = await get(zone.url, client_context(pki.ca_cert, cert=files.cert, key=files.key))
            assert response.status_code == 200
            assert response.text == name
    assert zone.seen == [(AGENT, AGENT), ("ITC01-StudentLocator", "ITC01-StudentLocator")]


async def test_strict_x509_verification_on_both_sides(pki):
    server = mtls(pki)
    server.verify_flags |= ssl.VERIFY_X509_STRICT
    client = client_context(pki.ca_cert, cert=pki.client(AGENT).cert, key=pki.client(AGENT).key)
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    async with Zone(server) as zone:
        assert (await get(zone.url, client)).text == AGENT


def capped(ctx: ssl.SSLContext, version: ssl.TLSVersion | None) -> ssl.SSLContext:
    if version is not None:
        ctx.maximum_version = version
    return ctx


# TLS 1.2: the server's refusal ends the handshake (ConnectError). TLS 1.3: the client
# finishes its half of the handshake before the server checks its certificate; the server
# then drops the connection and the client's first read fails (ReadError).
TLS_VERSIONS = pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, None], ids=["tls1.2", "tls1.3"])


def refused(version: ssl.TLSVersion | None):
    return pytest.raises(httpx.ConnectError if version is not None else httpx.TransportError)


@TLS_VERSIONS
async def test_client_without_certificate_fails_the_handshake(pki, version):
    async with Zone(mtls(pki)) as zone:
        with refused(version):
            await get(zone.url, capped(client_context(pki.ca_cert), version))
    assert zone.seen == []


async def test_client_that_does_not_trust_the_ca_fails_verification(pki, other_pki):
    files = pki.client(AGENT)
    async with Zone(mtls(pki)) as zone:
        with pytest.raises(httpx.ConnectError, match="(?i)certificate verify failed"):
            await get(zone.url, client_context(other_pki.ca_cert, cert=files.cert, key=files.key))
        with pytest.raises(httpx.ConnectError, match="(?i)certificate verify failed"):
            await get(zone.url, client_context(None, cert=files.cert, key=files.key))  # system CAs
    assert zone.seen == []


@TLS_VERSIONS
async def test_client_certificate_from_another_ca_is_refused(pki, other_pki, version):
    files = other_pki.client(AGENT)  # same CN, wrong issuer
    async with Zone(mtls(pki, require=False)) as zone:
        with refused(version):
            await get(zone.url, capped(client_context(pki.ca_cert, cert=files.cert, key=files.key), version))
    assert zone.seen == []


@TLS_VERSIONS
async def test_server_certificate_is_not_a_client_certificate(pki, version):
    """extendedKeyUsage serverAuth only: OpenSSL refuses it for client authentication."""
    async with Zone(mtls(pki)) as zone:
        with refused(version):
            await get(zone.url, capped(client_context(pki.ca_cert, cert=pki.server_cert,
                                                      key=pki.server_key), version))
    assert zone.seen == []


async def test_optional_client_certificate_gives_no_identity(pki):
    async with Zone(mtls(pki, require=False)) as zone:
        response = await get(zone.url, client_context(pki.ca_cert))
        assert response.status_code == 200 and response.text == "-"
    assert zone.seen == [(None, None)]


async def test_host_name_is_checked(tmp_path):
    only_dns = make_dev_pki(tmp_path, server_names=("zis.example.test",), clients=(AGENT,))
    files = only_dns.client(AGENT)
    async with Zone(mtls(only_dns)) as zone:  # reached as 127.0.0.1, not in the certificate
        with pytest.raises(httpx.ConnectError, match="(?i)certificate verify failed"):
            await get(zone.url, client_context(only_dns.ca_cert, cert=files.cert, key=files.key))


# --------------------------------------------------------------------------- slf certs dev


def test_cli_certs_dev_writes_the_demo_agents(tmp_path):
    out = tmp_path / "pki"
    result = CliRunner().invoke(main, ["certs", "dev", "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
    for agent in DEFAULT_CLIENTS:
        names |= {f"{agent}.pem", f"{agent}-key.pem"}
        assert cn(load(out / f"{agent}.pem")) == agent
        assert agent in result.output
    assert {p.name for p in out.iterdir()} == names
    for key in out.glob("*-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert "server.pem" in result.output and "tls_cert" in result.output
    assert "slf zone serve" in result.output


def test_cli_second_run_needs_force(tmp_path):
    args = ["certs", "dev", "--out", str(tmp_path), "--client", AGENT]
    assert CliRunner().invoke(main, args).exit_code == 0
    ca = (tmp_path / "ca.pem").read_bytes()
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0
    assert "--force" in again.output and "--out" in again.output and "Traceback" not in again.output
    assert (tmp_path / "ca.pem").read_bytes() == ca
    forced = CliRunner().invoke(main, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "ca.pem").read_bytes() != ca


def test_cli_clients_hosts_and_days(tmp_path):
    result = CliRunner().invoke(main, ["certs", "dev", "--out", str(tmp_path), "--client", "A1",
                                       "--client", "B2", "--host", "zis.example.test",
                                       "--host", "10.0.0.5", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.pem")) == [
        "A1-key.pem", "A1.pem", "B2-key.pem", "B2.pem", "ca-key.pem", "ca.pem",
        "server-key.pem", "server.pem"]
    server = load(tmp_path / "server.pem")
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["zis.example.test"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days in (30, 31)


def test_cli_bad_client_name_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["certs", "dev", "--out", str(tmp_path / "x"), "--client", "ca"])
    assert result.exit_code == 2 and "ca" in result.output
    assert not (tmp_path / "x").exists()


def test_cli_help_explains_the_command():
    result = CliRunner().invoke(main, ["certs", "dev", "--help"])
    assert result.exit_code == 0
    for word in ("--out", "--client", "--host", "--force", "SIF_SourceId", "0600", *DEFAULT_CLIENTS):
        assert word in result.output
    assert "certs" in CliRunner().invoke(main, ["--help"]).output
