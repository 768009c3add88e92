"""The kinds of items the model holds, and the one word each goes by in messages.

Every message that names an item says its kind the same way ("floating IP", never
"floatingip"), and every place that reads a kind from a file or a command line accepts
the same spellings: the API's collection name (``floatingips``) or its body key
(``floatingip``).
"""

from __future__ import annotations

# Stored kinds, in the order that references allow (a subnet needs its network, ...).
KINDS = ("networks", "subnets", "ports", "floatingips", "bonds", "keypairs", "servers")
# Flavors are read from files too, but folded into their servers.
FILE_KINDS = (*KINDS, "flavors")

NOUNS = {
    "networks": "network",
    "subnets": "subnet",
    "ports": "port",
    "floatingips": "floating IP",
    "bonds": "bond",
    "keypairs": "keypair",
    "servers": "server",
    "flavors": "flavor",
}

# The OpenStack API's single-item body keys ({"port": {...}}) -> kind.
BODY_KEYS = {kind[:-1]: kind for kind in FILE_KINDS}


def noun(kind: str) -> str:
    """``floatingips`` -> ``floating IP``: the kind as messages name one item of it."""
    return NOUNS[kind]


def kind_of(word: str) -> str | None:
    """The kind that ``word`` names (``port`` or ``ports``), or None."""
    if word in NOUNS:
        return word
    return BODY_KEYS.get(word)
