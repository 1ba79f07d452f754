"""The reversible key encoding the Table store uses, and the key rules every store enforces.

Azure Table keys forbid `/ \\ # ?` and control characters and hold at most 1 KiB (512 UTF-16 units), while
the watchdog's keys are arbitrary text ("sub/rg/apim:BreakerStuckOpen:aoai-eastus"). So a RowKey is the key
with every character outside a small safe ASCII set written as `~XX` per UTF-8 byte (upper-case hex):

    "sub/rg/apim:Stuck"  ->  "sub~2Frg~2Fapim:Stuck"        "é" -> "~C3~A9"        "~" -> "~7E"

Why this and not plain hex: ordinary ASCII keys keep their length (hex would halve the usable key length to
256 bytes) and stay readable in Storage Explorer. Why it is safe for `list(prefix)`: the code is prefix-free
(a safe character stands for itself and is never `~`; an escape is always exactly three characters), so
`encode(k)` starts with `encode(p)` exactly when `k` starts with `p`; and every encoded character is
printable ASCII (0x20-0x7E), where the service's ordinal ordering and ours agree, so the encoded keys
starting with `P` are exactly those in the range [P, P with its last character incremented). The encoded
order is not the key order for escaped characters, so stores sort the decoded keys themselves.

Every store applies the same rules (`check_key`), so a key that works on the laptop's SQLite file also works
in Azure.
"""

from __future__ import annotations

import re
import string

ESCAPE = "~"
# Printable ASCII minus the characters Table keys forbid (/ \ # ?), the escape itself, and two that are
# legal but have bitten OData filters and URL handling in emulators before (' and %).
_SAFE = frozenset(string.ascii_letters + string.digits + " !\"$&()*+,-.:;<=>@[]^_`{|}")
# 1 KiB of UTF-16 is 512 units; encoded keys are ASCII, one unit per character.
MAX_ENCODED_KEY_LENGTH = 512

_KIND = re.compile(r"[a-z][a-z0-9_]{0,62}")


def encode_key(key: str) -> str:
    parts: list[str] = []
    for char in key:
        if char in _SAFE:
            parts.append(char)
        else:
            parts.extend(f"{ESCAPE}{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(parts)


def decode_key(encoded: str) -> str:
    data = bytearray()
    index = 0
    while index < len(encoded):
        char = encoded[index]
        if char == ESCAPE:
            data.append(int(encoded[index + 1 : index + 3], 16))
            index += 3
        else:
            data.append(ord(char))
            index += 1
    return data.decode("utf-8")


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high) of the encoded keys that decode to keys starting with `prefix` (non-empty)."""
    low = encode_key(prefix)
    # The last character is a safe character or a hex digit, never `~` (0x7E), so its successor is still
    # printable ASCII and no encoded key can fall strictly between it and the original.
    high = low[:-1] + chr(ord(low[-1]) + 1)
    return low, high


def check_kind(kind: str) -> None:
    # Kinds are a small fixed vocabulary of names used verbatim as the PartitionKey: a lower-case identifier.
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ValueError(f"store kind {kind!r} must be a lower-case identifier such as 'incident'")


def check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("store key must be a non-empty string")
    try:
        encoded = encode_key(key)
    except UnicodeEncodeError:
        raise ValueError(f"store key {key!r} is not valid Unicode text (lone surrogate)") from None
    if len(encoded) > MAX_ENCODED_KEY_LENGTH:
        raise ValueError(
            f"store key is too long: {len(encoded)} characters once encoded for Table storage, "
            f"at most {MAX_ENCODED_KEY_LENGTH} (each character outside letters, digits and common "
            "punctuation counts 3 per UTF-8 byte); shorten it or hash its variable part"
        )
