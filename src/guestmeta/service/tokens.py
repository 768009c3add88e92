"""EC2 session tokens (IMDSv2), bound to the caller that asked for them.

AWS SDKs and tools ask for a token with ``PUT /latest/api/token`` and send it back with
every request; Nova has none. A token here is the caller's binding (server and how it was
identified), an expiry and an HMAC over both with the service's secret: nothing to store,
valid in every worker, useless to any other caller or after its TTL. A token request that
carries ``X-Forwarded-For`` came through a proxy and is refused, as AWS does, so a token
cannot be fetched on a guest's behalf from outside it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

from guestmeta.service.identity import Caller
from guestmeta.service.settings import MAX_TOKEN_TTL

TOKEN_PATH = "latest/api/token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"


def new_secret() -> str:
    return secrets.token_hex(32)


MAC_BYTES = 24


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:MAC_BYTES]


def parse_ttl(value: str | None) -> int | None:
    """The requested lifetime in seconds (1 to 21600), or None when it is not one."""
    if value is None or not value.strip().isdigit():
        return None
    ttl = int(value.strip())
    return ttl if 1 <= ttl <= MAX_TOKEN_TTL else None


def issue(secret: str, caller: Caller, ttl: int, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + ttl)
    payload = f"{expiry}\n{caller.server_id}\n{caller.binding}".encode()
    raw = payload + b"\n" + _mac(secret, payload)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def valid(secret: str, token: str, caller: Caller, now: float | None = None) -> bool:
    """Whether ``token`` was issued by this service to this same caller and has not expired."""
    if len(token) > 1024:
        return False
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return False
    payload, sep, mac = raw[: -MAC_BYTES - 1], raw[-MAC_BYTES - 1 : -MAC_BYTES], raw[-MAC_BYTES:]
    if sep != b"\n" or not hmac.compare_digest(mac, _mac(secret, payload)):
        return False
    expiry, _, rest = payload.partition(b"\n")
    if rest != f"{caller.server_id}\n{caller.binding}".encode() or not expiry.isdigit():
        return False
    return int(expiry) > (time.time() if now is None else now)
