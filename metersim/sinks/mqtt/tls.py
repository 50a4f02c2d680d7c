"""TLS for ``mqtts://``: check the files one by one, hand them to paho, and name what went wrong.

Each file is loaded on its own before paho sees it, so that the error names the file that is wrong
(a missing CA bundle, a key that is encrypted or does not match its certificate), and OpenSSL's
reasons are turned into short lower-case phrases.
"""

from __future__ import annotations

import re
import ssl

import paho.mqtt.client as mqtt

from metersim.config import TlsConfig
from metersim.errors import TlsError


def configure_tls(client: mqtt.Client, tls: TlsConfig | None) -> None:
    """Check the TLS files of ``tls`` (None: the system CA store) and set them on ``client``.

    Raises TlsError naming the unusable file.
    """
    ca_file = tls.ca_file if tls else None
    cert_file = tls.cert_file if tls else None
    key_file = tls.key_file if tls else None
    insecure = bool(tls and tls.insecure)
    check_tls_files(ca_file, cert_file, key_file)
    try:
        client.tls_set(
            ca_certs=ca_file,
            certfile=cert_file,
            keyfile=key_file,
            cert_reqs=ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED,
        )
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot set up TLS: {ssl_reason(exc)}") from None
    if insecure:
        client.tls_insecure_set(True)


def check_tls_files(ca_file: str | None, cert_file: str | None, key_file: str | None) -> None:
    """Load each TLS file on its own so that the error names the file that is wrong."""
    if ca_file is not None:
        _readable(ca_file, "tls.ca_file")
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ValueError) as exc:
            raise TlsError(f"tls.ca_file {ca_file}: not a usable PEM CA bundle ({ssl_reason(exc)})") from None
    if cert_file is not None and key_file is not None:
        _readable(cert_file, "tls.cert_file")
        _readable(key_file, "tls.key_file")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            # A password callback that fails stops OpenSSL from prompting on the terminal.
            context.load_cert_chain(cert_file, key_file, password=_no_password)
        except (OSError, ValueError) as exc:
            raise TlsError(
                f"tls.cert_file {cert_file} / tls.key_file {key_file}: unusable certificate or key "
                f"(encrypted, malformed or not a pair: {ssl_reason(exc)})"
            ) from None


def is_tls_failure(exc: BaseException | None) -> bool:
    """Whether a failed connection attempt failed in the TLS layer (handshake, verification)."""
    return isinstance(exc, ssl.SSLError | ssl.CertificateError)


def ssl_reason(exc: BaseException) -> str:
    """A short lower-case reason, e.g. ``certificate verify failed: self-signed certificate``."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return _SOURCE_LINE.sub("", exc.strerror).lower()
    return _SOURCE_LINE.sub("", str(exc)) or type(exc).__name__


#: the " (_ssl.c:2427)" that CPython appends to some SSL errors
_SOURCE_LINE = re.compile(r" \(_ssl\.c:\d+\)$")


def _no_password() -> bytes:
    raise ValueError("the key is encrypted; metersim needs an unencrypted key file")


def _readable(path: str, field: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise TlsError(f"{field} {path}: {(exc.strerror or str(exc)).lower()}") from None


#: what a TLS client sees when the peer ends the TCP connection in the middle of its handshake
RESET_IN_HANDSHAKE = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def ended_tls(exc: BaseException | None) -> bool:
    """Whether a TLS connection that was up (handshake done, CONNACK awaited) ended in the TLS layer.

    With TLS 1.3 a client learns only now that the broker rejected its certificate (or the lack of
    one): by an alert, or, when the broker closes at once, by an EOF or a reset.
    """
    return is_tls_failure(exc) or isinstance(exc, RESET_IN_HANDSHAKE)


def tls_refusal(exc: BaseException, client_cert: bool) -> str:
    """The reason, with the usual cause named: a client certificate the broker requires or refused."""
    reason = ssl_reason(exc)
    if "certificate required" in reason:
        return f"{reason} (the broker requires a client certificate: set tls.cert_file and tls.key_file)"
    if client_cert:
        return f"{reason} (did the broker refuse the client certificate of tls.cert_file?)"
    return f"{reason} (does the broker require a client certificate? set tls.cert_file and tls.key_file)"
