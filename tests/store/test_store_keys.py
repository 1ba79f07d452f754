"""The RowKey encoding: reversible, legal for Table storage, and exact for prefix ranges (property tests)."""

from __future__ import annotations

import random

import pytest

from breakerpanel.store.keys import decode_key, encode_key, prefix_range

# Characters that matter: the forbidden ones, the escape, its hex digits, neighbours of both in ASCII order,
# control characters, and Unicode in and beyond the BMP.
ALPHABET = list("/\\#?~%'\"aAbBfFgG0129 .-:_|}\t\n\x00\x7f\x85é東🙂\uffff")


def _random_key(rng: random.Random, longest: int = 8) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def test_encoded_keys_are_legal_row_keys_and_decode_back() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        key = _random_key(rng)
        encoded = encode_key(key)
        assert decode_key(encoded) == key
        assert all(0x20 <= ord(c) <= 0x7E for c in encoded), encoded
        assert not set(encoded) & set("/\\#?'%"), encoded


def test_a_prefix_range_holds_exactly_the_keys_with_that_prefix() -> None:
    rng = random.Random(11)
    keys = {_random_key(rng) for _ in range(3000)}
    for _ in range(300):
        prefix = _random_key(rng, longest=3) or "a"
        low, high = prefix_range(prefix)
        in_range = {key for key in keys if low <= encode_key(key) < high}
        assert in_range == {key for key in keys if key.startswith(prefix)}, prefix


@pytest.mark.parametrize(("key", "encoded"), [
    ("sub/rg/apim:BreakerStuckOpen:aoai-eastus", "sub~2Frg~2Fapim:BreakerStuckOpen:aoai-eastus"),
    ("é", "~C3~A9"), ("~", "~7E"), ("a b", "a b"), ("it's", "it~27s"),
])
def test_the_documented_examples(key: str, encoded: str) -> None:
    assert encode_key(key) == encoded
