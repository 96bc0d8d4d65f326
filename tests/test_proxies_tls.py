"""Behind a reverse proxy and over HTTPS: the client's real address for limits, Secure cookies, HSTS, TLS flags."""

from __future__ import annotations

import datetime as dt
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import build_app, make_settings
from tests.helpers import PASSWORD, register
from tests.procutil import ROOT, free_port, server_env


async def proxied_client(aiohttp_client, tmp_path, trusted: tuple[str, ...]):
    return await aiohttp_client(await build_app(make_settings(tmp_path, trusted_proxies=trusted,
                                                              login_fail_limit_account=3)))


async def login_from(client, forwarded_for: str | None, password: str, proto: str | None = None):
    headers = {}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    if proto:
        headers["X-Forwarded-Proto"] = proto
    return await client.post("/api/v1/users/session", json={"username": "nina", "password": password},
                             headers=headers)


async def test_limits_count_the_client_behind_a_trusted_proxy(aiohttp_client, tmp_path):
    client = await proxied_client(aiohttp_client, tmp_path, ("127.0.0.1",))  # the test client is the "proxy"
    await register(client, "nina")
    for _ in range(3):
        assert (await login_from(client, "203.0.113.7", "wrong password!")).status == 401
    assert (await login_from(client, "203.0.113.7", PASSWORD)).status == 429  # that client is limited ...
    assert (await login_from(client, "198.51.100.9", PASSWORD)).status == 200  # ... not everyone behind the proxy


async def test_forwarded_headers_from_anyone_else_are_ignored(aiohttp_client, tmp_path):
    client = await proxied_client(aiohttp_client, tmp_path, ("10.0.0.1",))  # the test client is not trusted
    await register(client, "nina")
    for i in range(3):  # a spoofed address per try would dodge the limit if the header were believed
        assert (await login_from(client, f"203.0.113.{i}", "wrong password!")).status == 401
    assert (await login_from(client, "203.0.113.99", PASSWORD)).status == 429
    plain = await login_from(client, None, PASSWORD, proto="https")
    assert "Strict-Transport-Security" not in plain.headers  # a claimed https from an untrusted peer counts nothing


async def test_https_via_a_trusted_proxy_gives_secure_cookies_and_hsts(aiohttp_client, tmp_path):
    client = await proxied_client(aiohttp_client, tmp_path, ("127.0.0.0/8",))
    await register(client, "nina")
    secure = await login_from(client, "203.0.113.7", PASSWORD, proto="https")
    assert secure.status == 200
    assert secure.cookies["chatsvc_session"]["secure"]
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = await login_from(client, "203.0.113.7", PASSWORD, proto="http")
    assert not plain.cookies["chatsvc_session"]["secure"] and "Strict-Transport-Security" not in plain.headers


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_server_speaks_https_with_tls_flags(tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "run.py", "--port", str(port), "--data-dir", str(tmp_path / "data"),
                             "--tls-cert", str(cert), "--tls-key", str(key)],
                            cwd=ROOT, env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"https://localhost:{port}/healthz", context=context, timeout=2) as r:
                    assert r.status == 200
                    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
                    break
            except OSError:
                assert time.monotonic() < deadline, "no HTTPS answer"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=20)[0]
    assert "https://" in output and "Traceback" not in output, output


def test_tls_flags_must_come_together_and_be_readable(tmp_path):
    for extra in (["--tls-cert", "x.pem"], ["--tls-cert", "missing.pem", "--tls-key", "missing.pem"]):
        done = subprocess.run([sys.executable, "run.py", "--port", str(free_port()), "--data-dir",
                               str(tmp_path / "data"), *extra], cwd=ROOT, env=server_env(), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr, done.stderr
