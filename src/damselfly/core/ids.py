"""Identifiers: task ids (Dragonfly's v2 rule), peer ids and host ids.

Task id (Dragonfly ``TaskIDV2ByURLBased``): hex sha256 of the plain concatenation
``filtered_url + tag + application + revision + [piece_length] + "STANDARD"``.
When the content digest is known up front (an OCI blob URL or ``--digest``), the task id
is derived from the digest instead, so one content reached through several URLs is one task.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

from damselfly.core.digest import Digest

TASK_TYPE_STANDARD = "STANDARD"

# Query parameters that sign or date a URL without changing its content (reference §3.1).
DEFAULT_FILTERED_QUERY_PARAMS: tuple[str, ...] = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Amz-User-Agent",
    "X-Goog-Algorithm",
    "X-Goog-Credential",
    "X-Goog-Date",
    "X-Goog-Expires",
    "X-Goog-SignedHeaders",
    "X-Goog-Signature",
    "OSSAccessKeyId",
    "Expires",
    "Signature",
    "SecurityToken",
    "AccessKeyId",
    "X-Obs-Date",
    "X-Obs-Security-Token",
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
    "x-cos-security-token",
    "ns",
)

_OCI_BLOB_RE = re.compile(r"/v2/.+/blobs/(?:(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128}))")
_TASK_ID_RE = re.compile(r"[0-9a-f]{64}")


def filter_query_params(url: str, params: Iterable[str]) -> str:
    """Drop ``params`` from the query of ``url`` (exact, case-sensitive keys).

    With nothing to filter the URL is returned unchanged. Otherwise the query is
    re-encoded like Go's ``url.Values.Encode``: keys sorted (values of one key keep
    their order), both escaped with ``+`` for spaces.
    """
    dropped = {p for p in params if p}
    if not dropped:
        return url
    parts = urlsplit(url)
    pairs = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in dropped
    ]
    pairs.sort(key=lambda pair: pair[0])
    query = "&".join(f"{quote_plus(k, safe='~')}={quote_plus(v, safe='~')}" for k, v in pairs)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def oci_blob_digest(url: str) -> Digest | None:
    """The digest named by an OCI registry blob URL ``.../v2/<repo>/blobs/<alg>:<hex>``."""
    match = _OCI_BLOB_RE.search(urlsplit(url).path)
    if match is None or match.end() != len(urlsplit(url).path):
        return None
    if match.group(1):
        return Digest(match.group(1), match.group(2))
    return Digest(match.group(3), match.group(4))


def task_id(
    url: str,
    *,
    tag: str = "",
    application: str = "",
    piece_length: int | None = None,
    filtered_query_params: Sequence[str] = DEFAULT_FILTERED_QUERY_PARAMS,
    digest: Digest | None = None,
    content_for_calculating_task_id: str = "",
) -> str:
    """The task id of a download (see the module docstring for the rule)."""
    if content_for_calculating_task_id:
        return hashlib.sha256(content_for_calculating_task_id.encode()).hexdigest()
    known = digest or oci_blob_digest(url)
    if known is not None:
        return digest_task_id(known, piece_length)
    text = filter_query_params(url, filtered_query_params) + tag + application
    if piece_length is not None:
        text += str(piece_length)
    return hashlib.sha256((text + TASK_TYPE_STANDARD).encode()).hexdigest()


def digest_task_id(digest: Digest, piece_length: int | None = None) -> str:
    """Task id of content known by digest: the sha256 hex itself when that is all we know."""
    if digest.algorithm == "sha256" and piece_length is None:
        return digest.hex
    text = str(digest) + ("" if piece_length is None else str(piece_length))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def is_task_id(text: str) -> bool:
    """True for a well-formed task id (64 lowercase hex digits). Cached: every message
    of a peer's stream names its task."""
    return _TASK_ID_RE.fullmatch(text) is not None


def host_id(ip: str, hostname: str, *, seed: bool = False, port: int = 0) -> str:
    """Host id ``<ip>-<hostname>[-<port>][-seed]`` (Dragonfly's HostIDV2 plus the port,
    so several daemons on one machine stay distinct)."""
    base = f"{ip}-{hostname}" + (f"-{port}" if port else "")
    return base + "-seed" if seed else base


def peer_id(ip: str, hostname: str, *, seed: bool = False) -> str:
    """Peer id ``<ip>-<hostname>-<uuid4>[-seed]`` (the Rust client's form)."""
    base = f"{ip}-{hostname}-{uuid.uuid4()}"
    return base + "-seed" if seed else base
