"""TLS for LgNet's Kafka broker: a CA and the broker's certificate, made with `cryptography` (PEM files that
Kafka reads as `ssl.keystore.type=PEM` / `ssl.truststore.type=PEM`). `deploy/local/infra.py` makes them for the
local broker; `lgnet-kafka-admin tls --out DIR --host kafka.example` for any other (e.g. deploy/compose/federated)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

LOCAL_HOSTS = ("127.0.0.1", "localhost")
TLS_DAYS = 825  # broker certificate lifetime (the CA's: ten years)


def write_private(path: Path, data: bytes | str) -> None:
    """Secrets (keys, passwords) are readable by their owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _general_name(host: str) -> Any:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _names(cert: Any) -> set[str]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n.value) for n in san}


def make_tls(tls: Path, hosts: Sequence[str] = LOCAL_HOSTS, say: Callable[[str], None] = print) -> None:
    """A CA and the broker's certificate for `hosts` (names or IP addresses), PEM, in the folder `tls`: `ca.pem`
    (give it to every client), `ca.key` and `broker.pem` (the broker's PEM key store: key, then chain). The CA is
    kept; the broker certificate is re-issued when missing, within 30 days of expiry, or for other hosts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_cert_file, ca_key_file, broker_file = tls / "ca.pem", tls / "ca.key", tls / "broker.pem"
    if ca_cert_file.exists() and ca_key_file.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_file.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LgNet"),
                x509.NameAttribute(NameOID.COMMON_NAME, "LgNet Kafka CA"),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write_private(ca_key_file, pkcs8(ca_key))
        ca_cert_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        broker_file.unlink(missing_ok=True)
        say(f"generated the project CA {ca_cert_file}")
    if broker_file.exists():
        cert = x509.load_pem_x509_certificate(broker_file.read_bytes())
        if cert.not_valid_after_utc - now > dt.timedelta(days=30) and _names(cert) == set(hosts):
            return
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        # The broker's principal on the mutual-TLS controller listener is User:CN=lgnet-broker (a super user).
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lgnet-broker")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=TLS_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in hosts]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # Kafka's PEM key store: the PKCS#8 key, then the certificate chain, in one file.
    write_private(
        broker_file,
        pkcs8(key) + cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM),
    )
    say(f"issued the broker certificate {broker_file} (valid {TLS_DAYS} days)")
