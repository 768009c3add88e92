"""Who is calling: the one question that decides which server's files a request sees.

Three ways, one per listener (see :class:`~guestmeta.service.settings.Listener`):

- **address**: the source address of the connection, looked up on the listener's
  network when it names one (the same address on two networks is two servers). An
  address that belongs to servers on several networks, on a listener that names none, is
  refused rather than guessed. ``X-Forwarded-For`` counts only from a trusted proxy.
- **proxy**: a Neutron metadata proxy vouches for the instance with
  ``X-Instance-ID`` signed by the shared secret (HMAC-SHA256, hex), compared in constant
  time; the statuses are Nova's: a missing header 400, a bad signature 403, an unknown
  instance or another tenant 404.
- **channel**: the socket belongs to one server; whoever reaches it is that server.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from guestmeta.service.settings import CHANNEL, PROXY, Listener, Settings
from guestmeta.service.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Caller:
    """A resolved caller: the server, and what a token it asks for is bound to."""

    server_id: str
    binding: str


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str


def sign(secret: str, instance_id: str) -> str:
    """The signature a Neutron metadata proxy sends with ``X-Instance-ID``."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


# Signatures of instances that are in the store, by (secret, instance id). An HMAC costs
# more than the rest of a proxied request (OpenSSL sets a key up each time), and the same
# instances ask again and again. Only known instances are kept, so a caller sending made-up
# ids cannot grow it; servers that left the store are dropped when it passes the bound.
_SIGNED: dict[tuple[str, str], str] = {}
_SIGNED_MAX = 200_000


def _expected_signature(secret: str, instance_id: str, known: bool) -> str:
    key = (secret, instance_id)
    signature = _SIGNED.get(key)
    if signature is None:
        signature = sign(secret, instance_id)
        if known:
            if len(_SIGNED) >= _SIGNED_MAX:
                _SIGNED.clear()
            _SIGNED[key] = signature
    return signature


def canonical_address(text: str) -> str | None:
    """An address as the store writes it (IPv4-mapped IPv6 becomes IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _one(headers: dict[str, list[str]], name: str) -> str | bool | None:
    values = headers.get(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else False


def identify(
    listener: Listener,
    peer: str | None,
    headers: dict[str, list[str]],
    snapshot: Snapshot,
    settings: Settings,
) -> Caller | Refusal:
    """The server behind a request, or why there is none (``headers``: lower-case names)."""
    if listener.mode == CHANNEL:
        server_id = snapshot.server_for(listener.server)
        if server_id is None:
            return Refusal(404, f"channel server {listener.server!r} is not in the store")
        return Caller(server_id, f"channel:{listener.endpoint}")
    if listener.mode == PROXY:
        return _proxied(headers, snapshot, settings)
    return _by_address(listener, peer, headers, snapshot, settings)


def _proxied(
    headers: dict[str, list[str]], snapshot: Snapshot, settings: Settings
) -> Caller | Refusal:
    instance_id = _one(headers, "x-instance-id")
    signature = _one(headers, "x-instance-id-signature")
    tenant_id = _one(headers, "x-tenant-id")
    for value, name in (
        (instance_id, "X-Instance-ID"),
        (signature, "X-Instance-ID-Signature"),
        (tenant_id, "X-Tenant-ID"),
    ):
        if value is None:
            return Refusal(400, f"{name} header is missing from request")
        if value is False:
            return Refusal(400, f"multiple {name} headers found within request")
    assert isinstance(instance_id, str) and isinstance(signature, str)
    server = snapshot.topology.servers.get(instance_id)
    secret = settings.proxy_shared_secret
    expected = _expected_signature(secret, instance_id, server is not None)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return Refusal(403, "invalid proxy request signature")
    if server is None:
        return Refusal(404, "unknown instance")
    if (server.project_id or "") != tenant_id:
        return Refusal(404, "tenant does not match the instance")
    return Caller(server.id, f"proxy:{server.id}")


def _by_address(
    listener: Listener,
    peer: str | None,
    headers: dict[str, list[str]],
    snapshot: Snapshot,
    settings: Settings,
) -> Caller | Refusal:
    if peer is None:
        return Refusal(404, "no source address")
    address = canonical_address(peer)
    forwarded = headers.get("x-forwarded-for")
    if forwarded and address in settings.trusted_proxies:
        # The proxy appends what it saw last; anything before it the caller may have forged.
        address = canonical_address(forwarded[-1].split(",")[-1])
    if address is None:
        return Refusal(404, "unusable source address")
    if listener.network:
        network_id = snapshot.network_ids.get(listener.network)
        server_id = snapshot.by_network_address.get((network_id, address)) if network_id else None
        if server_id is None:
            return Refusal(404, f"no server has {address} on network {listener.network}")
        return Caller(server_id, f"address:{listener.network}:{address}")
    owners = snapshot.by_address.get(address, ())
    if len(owners) != 1:
        what = "no server" if not owners else f"{len(owners)} servers on different networks"
        return Refusal(404, f"{what} for {address}")
    return Caller(owners[0], f"address:{address}")
