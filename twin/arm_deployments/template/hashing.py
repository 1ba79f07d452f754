"""guid() and uniqueString(): the deterministic hashes ARM uses, so names match a real deployment.

Both join their string arguments with '-' first. guid() is a name-based version-5 UUID (SHA-1) in ARM's
fixed namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830. uniqueString() is the 64-bit Murmur variant of
Microsoft's ResourceStack library, written as 13 base32 characters (a-z, 2-7), 5 bits at a time from the
top. Algorithms as documented by public reimplementations of the MIT-licensed ARM expression engine;
the tests check values those projects state they verified against Bicep/ARM output (not verified here
against Azure itself — there is no Azure in this environment).
"""

from __future__ import annotations

import uuid

ARM_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_M32 = 0xFFFFFFFF
_C1 = 597399067
_C2 = 2869860233
_F1 = 2246822507
_F2 = 3266489909


def arm_guid(parts: list[str]) -> str:
    return str(uuid.uuid5(ARM_GUID_NAMESPACE, "-".join(parts)))


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _M32


def _le32(data: bytes) -> int:
    return int.from_bytes(data, "little")


def _mix_k1(k1: int) -> int:
    return (_rotl((k1 * _C1) & _M32, 15) * _C2) & _M32


def _mix_k2(k2: int) -> int:
    return (_rotl((k2 * _C2) & _M32, 17) * _C1) & _M32


def _finalize(h: int) -> int:
    h ^= h >> 16
    h = (h * _F1) & _M32
    h ^= h >> 13
    h = (h * _F2) & _M32
    return h ^ (h >> 16)


def resource_stack_murmur64(data: bytes) -> int:
    h1 = 0
    h2 = 0
    length = len(data)
    full = length - length % 8
    for index in range(0, full, 8):
        h1 ^= _mix_k1(_le32(data[index : index + 4]))
        h1 = (_rotl(h1, 19) + h2) & _M32
        h1 = (h1 * 5 + 1444728091) & _M32
        h2 ^= _mix_k2(_le32(data[index + 4 : index + 8]))
        h2 = (_rotl(h2, 13) + h1) & _M32
        h2 = (h2 * 5 + 197830471) & _M32
    tail = data[full:]
    if tail:
        h1 ^= _mix_k1(_le32(tail[:4]))
        if len(tail) > 4:
            h2 ^= _mix_k2(_le32(tail[4:]))
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    h1 = _finalize(h1)
    h2 = _finalize(h2)
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    return (h2 << 32) | h1


def unique_string(parts: list[str]) -> str:
    value = resource_stack_murmur64("-".join(parts).encode("utf-8"))
    chars = []
    for _ in range(13):
        chars.append(_BASE32[value >> 59])
        value = (value << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(chars)
