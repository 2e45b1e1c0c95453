"""Task ids, filtered URLs, host ids and peer ids (reference/dragonfly.md §3)."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from damselfly.core.digest import parse_digest
from damselfly.core.ids import (
    DEFAULT_FILTERED_QUERY_PARAMS,
    digest_task_id,
    filter_query_params,
    host_id,
    is_task_id,
    peer_id,
    task_id,
)

HEX64 = "0123456789abcdef" * 4
HEX128 = "fedcba9876543210" * 8


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# filter_query_params ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/p?b=2&a=1",
        "https://example.com/p?q=a%20b&X-Amz-Signature=s",
        "https://example.com/p",
    ],
)
def test_no_params_to_filter_leaves_url_unchanged(url: str) -> None:
    assert filter_query_params(url, []) == url


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        # Keys are sorted even when nothing is dropped (Go re-encodes the query).
        ("https://e.com/p?b=2&a=1", ["zzz"], "https://e.com/p?a=1&b=2"),
        # Exact, case-sensitive key match.
        (
            "https://e.com/p?X-Amz-Signature=s&x-amz-signature=t&k=v",
            ["X-Amz-Signature"],
            "https://e.com/p?k=v&x-amz-signature=t",
        ),
        # A prefix of a key is not the key.
        ("https://e.com/p?Expires=1&ExpiresAt=2", ["Expires"], "https://e.com/p?ExpiresAt=2"),
        # Every value of a dropped key goes.
        ("https://e.com/p?s=1&k=v&s=2", ["s"], "https://e.com/p?k=v"),
        # Values of one key keep their order; keys are sorted.
        ("https://e.com/p?z=1&a=3&a=1&a=2", ["x"], "https://e.com/p?a=3&a=1&a=2&z=1"),
        # Spaces become '+', whether written as %20 or '+'.
        ("https://e.com/p?q=a%20b&r=c+d", ["x"], "https://e.com/p?q=a+b&r=c+d"),
        # Go's QueryEscape keeps only letters, digits and -_.~
        ("https://e.com/p?v=a%2Fb%26c~d-e_f.g", ["x"], "https://e.com/p?v=a%2Fb%26c~d-e_f.g"),
        ("https://e.com/p?v=a*b!c'd(e)", ["x"], "https://e.com/p?v=a%2Ab%21c%27d%28e%29"),
        ("https://e.com/p?v=x/y:z", ["x"], "https://e.com/p?v=x%2Fy%3Az"),
        # Keys are escaped like values.
        ("https://e.com/p?a%20b=1", ["x"], "https://e.com/p?a+b=1"),
        # UTF-8 bytes are percent-escaped in upper case.
        ("https://e.com/p?n=%c3%a9", ["x"], "https://e.com/p?n=%C3%A9"),
        # A key without '=' keeps an empty value.
        ("https://e.com/p?flag&a=1", ["x"], "https://e.com/p?a=1&flag="),
        # Query emptied: no '?' left behind.
        ("https://e.com/p?Expires=1&Signature=2", ["Expires", "Signature"], "https://e.com/p"),
        # Fragment, port and path survive.
        ("http://e.com:8080/a/b?b=1&a=2#frag", ["x"], "http://e.com:8080/a/b?a=2&b=1#frag"),
    ],
)
def test_filter_query_params_worked_examples(url: str, params: list[str], expected: str) -> None:
    assert filter_query_params(url, params) == expected


@pytest.mark.parametrize(
    "signing_key",
    ["X-Amz-Signature", "X-Amz-Date", "X-Amz-Credential", "Expires", "Signature", "ns"],
)
def test_default_filter_drops_signing_params(signing_key: str) -> None:
    assert signing_key in DEFAULT_FILTERED_QUERY_PARAMS
    url = f"https://bucket.example.com/obj?{signing_key}=secret&v=1"
    assert filter_query_params(url, DEFAULT_FILTERED_QUERY_PARAMS) == (
        "https://bucket.example.com/obj?v=1"
    )


# task_id ------------------------------------------------------------------------------

SIGNED = (
    "https://example.com/file.tar.gz"
    "?X-Amz-Signature=abc&b=2&X-Amz-Date=20240101T000000Z&a=1&Expires=99"
)
SIGNED_FILTERED = "https://example.com/file.tar.gz?a=1&b=2"


@pytest.mark.parametrize(
    ("tag", "application", "piece_length", "hashed"),
    [
        ("", "", None, SIGNED_FILTERED + "STANDARD"),
        ("t1", "", None, SIGNED_FILTERED + "t1" + "STANDARD"),
        ("t1", "app", None, SIGNED_FILTERED + "t1" + "app" + "STANDARD"),
        ("", "app", 4 << 20, SIGNED_FILTERED + "app" + "4194304" + "STANDARD"),
        ("t", "a", 64 << 20, SIGNED_FILTERED + "t" + "a" + "67108864" + "STANDARD"),
    ],
)
def test_task_id_rule(tag: str, application: str, piece_length: int | None, hashed: str) -> None:
    got = task_id(SIGNED, tag=tag, application=application, piece_length=piece_length)
    assert got == sha256_hex(hashed)
    assert is_task_id(got)


def test_task_id_ignores_signature_params_only() -> None:
    other_signature = (
        "https://example.com/file.tar.gz?a=1&b=2&X-Amz-Signature=zzz&X-Amz-Date=20990101T000000Z"
    )
    assert task_id(SIGNED) == task_id(other_signature)
    assert task_id(SIGNED) != task_id("https://example.com/file.tar.gz?a=1&b=3")
    assert task_id(SIGNED) != task_id(SIGNED, tag="x")
    assert task_id(SIGNED) != task_id(SIGNED, application="x")


def test_task_id_with_custom_filter_list() -> None:
    url = "https://e.com/f?token=1&b=2&a=1"
    assert task_id(url, filtered_query_params=["token"]) == sha256_hex(
        "https://e.com/f?a=1&b=2STANDARD"
    )
    # An empty list filters nothing and keeps the URL as written.
    assert task_id(url, filtered_query_params=[]) == sha256_hex(url + "STANDARD")


@pytest.mark.parametrize(
    ("digest_text", "piece_length", "expected"),
    [
        (f"sha256:{HEX64}", None, HEX64),
        (f"SHA256:{HEX64.upper()}", None, HEX64),
        (f"sha256:{HEX64}", 4 << 20, sha256_hex(f"sha256:{HEX64}4194304")),
        (f"sha512:{HEX128}", None, sha256_hex(f"sha512:{HEX128}")),
        (f"sha512:{HEX128}", 8 << 20, sha256_hex(f"sha512:{HEX128}8388608")),
    ],
)
def test_task_id_from_given_digest(
    digest_text: str, piece_length: int | None, expected: str
) -> None:
    digest = parse_digest(digest_text)
    assert digest_task_id(digest, piece_length) == expected
    # The URL does not matter once the digest is known: mirrors share one task.
    for url in ("https://a.example.com/x", "https://mirror.example.org/y?z=1"):
        assert task_id(url, digest=digest, piece_length=piece_length) == expected


@pytest.mark.parametrize(
    "url",
    [
        f"https://registry.example.com/v2/library/nginx/blobs/sha256:{HEX64}",
        f"https://registry.example.com/v2/a/b/c/blobs/sha256:{HEX64}?ns=docker.io",
        f"http://127.0.0.1:5000/v2/x/blobs/sha256:{HEX64}",
    ],
)
def test_oci_blob_url_task_id_is_the_digest_hex(url: str) -> None:
    assert task_id(url) == HEX64
    assert task_id(url, tag="t", application="a") == HEX64
    assert task_id(url, piece_length=4 << 20) == sha256_hex(f"sha256:{HEX64}4194304")


@pytest.mark.parametrize(
    "url",
    [
        f"https://registry.example.com/v2/library/nginx/manifests/sha256:{HEX64}",
        f"https://registry.example.com/blobs/sha256:{HEX64}",
    ],
)
def test_non_blob_urls_follow_the_url_rule(url: str) -> None:
    assert task_id(url) == sha256_hex(url + "STANDARD")


def test_malformed_blob_digest_still_gives_a_valid_task_id() -> None:
    assert is_task_id(task_id("https://registry.example.com/v2/x/blobs/sha256:abc"))


# is_task_id, host_id, peer_id ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        (HEX64, True),
        (sha256_hex("anything"), True),
        (HEX64.upper(), False),
        (HEX64[:-1], False),
        (HEX64 + "0", False),
        ("g" + HEX64[1:], False),
        ("", False),
        (" " + HEX64, False),
        (f"sha256:{HEX64}", False),
    ],
)
def test_is_task_id(text: str, valid: bool) -> None:
    assert is_task_id(text) is valid


def test_is_task_id_rejects_trailing_newline() -> None:
    assert not is_task_id(HEX64 + "\n")


@pytest.mark.parametrize(
    ("seed", "port", "expected"),
    [
        (False, 0, "10.0.0.1-node-a"),
        (True, 0, "10.0.0.1-node-a-seed"),
        (False, 4000, "10.0.0.1-node-a-4000"),
        (True, 4000, "10.0.0.1-node-a-4000-seed"),
    ],
)
def test_host_id(seed: bool, port: int, expected: str) -> None:
    assert host_id("10.0.0.1", "node-a", seed=seed, port=port) == expected


@pytest.mark.parametrize("seed", [False, True])
def test_peer_id_format(seed: bool) -> None:
    made = peer_id("10.0.0.1", "node-a", seed=seed)
    pattern = r"10\.0\.0\.1-node-a-([0-9a-f-]{36})" + ("-seed" if seed else "")
    match = re.fullmatch(pattern, made)
    assert match is not None, made
    assert uuid.UUID(match.group(1)).version == 4
    assert peer_id("10.0.0.1", "node-a", seed=seed) != made
