"""One normal form for a blog post's address, so every way of writing it finds the same review.

A reader's browser, a feed and a template rarely agree on how a post's URL is
written: ``https://www.blog.example/review/`` in the feed, ``http://blog.example/review``
in a template, ``…/review/?utm_source=newsletter#comments`` in the address bar.
:func:`normalize_post_url` maps all of them to one key. The web API matches the
widget's page against stored reviews with it; feed de-duplication (issue 17) and
review look-ups by URL (issue 15) reuse it, so the rules live only here.

What is ignored: the scheme (http and https), a leading ``www.``, the default
port, letter case in the host, a trailing slash, the fragment, and tracking
parameters (``utm_*``, ``fbclid``, ``gclid`` and friends). What is kept: the rest
of the query (WordPress's ``?p=412`` names a post), sorted so parameter order
does not matter.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = ["TRACKING_PARAMETERS", "is_tracking_parameter", "normalize_post_url"]

# Exact names of parameters that only say where a click came from.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "ref_src",
        "ref_url",
        "amp",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_MAX_URL = 2048
# Characters a path keeps as they are; everything else is percent-encoded once, in upper case.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"^[a-z0-9.\-\[\]:_]+$")


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(_TRACKING_PREFIXES)


def normalize_post_url(url: str | None) -> str | None:
    """The matching key of a post address (``blog.example/2026/chungking?p=4``), or None if it is not one.

    None for anything that is not an absolute http(s) URL with a host, or is
    longer than browsers send (2,048 characters). Never raises.
    """
    if not url:
        return None
    text = url.strip()
    if len(text) > _MAX_URL or any(ch in text for ch in "\r\n\t\x00"):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    if not _HOST.match(host):
        return None
    if host.startswith("www."):
        host = host[4:]
    if port is not None and port not in _DEFAULT_PORTS.values():
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE).rstrip("/")
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_parameter(name)
    ]
    key = host + path
    if query:
        key += "?" + urlencode(sorted(query))
    return key
