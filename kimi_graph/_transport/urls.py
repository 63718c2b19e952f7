"""Configuration checks run when a `ChatKimi` is made: base URL shape and the API key.

Both fail early with a clear message instead of a doubled URL or a 401 on the first
call. A URL is shown without its credentials (`user:pass@`) and query string.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

#: Domains of Moonshot's platform (API and console hosts, both regions, both brands).
MOONSHOT_DOMAINS = ("moonshot.ai", "moonshot.cn", "kimi.ai", "kimi.com")

#: The exact hosts of Kimi's API (WIRE.md): the only ones a run setting may send the
#: environment's key to, over https on the default port.
KIMI_API_HOSTS = ("api.moonshot.ai", "api.moonshot.cn")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def redact_url(url: Any) -> str:
    """Return `url` without user name, password, query or fragment (safe to show).

    Args:
        url: A URL (str or httpx URL); None gives "".

    Returns:
        The URL with `user:pass@` replaced by `***@` and any `?query`/`#fragment` cut.
    """
    if url is None:
        return ""
    return _redact(str(url))


@functools.lru_cache(maxsize=256)
def _redact(url: str) -> str:
    """`redact_url` of a string (cached: ChatKimi names its endpoint several times a call)."""
    text = re.split(r"[?#]", url.strip(), maxsplit=1)[0]
    if "://" not in text:  # no scheme: the authority runs to the first "/"
        authority, slash, path = text.partition("/")
        if "@" in authority:
            authority = "***@" + authority.rsplit("@", 1)[1]
        return f"{authority}{slash}{path}"
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=netloc))


def check_base_url(url: str, source: str) -> None:
    """Refuse a base URL that has no `http(s)://` scheme.

    Without one, the OpenAI client joins it onto nothing sensible (a relative or doubled
    URL) and the first call fails far from the cause.

    Args:
        url: The base URL.
        source: Where it came from, for the message (`base_url`, `KIMI_BASE_URL`).

    Raises:
        ValueError: If the URL has no scheme, or one other than http/https.
    """
    shown = redact_url(url)
    if not _SCHEME.match(url.strip()):
        msg = (
            f"{source}={shown!r} has no scheme: write it as 'https://{shown}' "
            "(or 'http://...' for a local server)."
        )
        raise ValueError(msg)
    scheme = urlsplit(url.strip()).scheme.lower()
    if scheme not in ("http", "https"):
        msg = f"{source}={shown!r} must use http:// or https://, not {scheme}://."
        raise ValueError(msg)


def is_moonshot_host(url: str | None) -> bool:
    """Whether `url` points at Moonshot's platform (any region, any of its hosts)."""
    try:
        host = (urlsplit((url or "").strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    return any(host == d or host.endswith("." + d) for d in MOONSHOT_DOMAINS)


def is_kimi_api_url(url: str | None) -> bool:
    """Whether `url` is Kimi's API exactly: https, one of `KIMI_API_HOSTS`, default port.

    This is the test for sending the environment's key to a URL a run chose; a
    subdomain, another port, plain http or credentials in the URL do not pass.
    """
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    return (
        parts.scheme.lower() == "https"
        and host in KIMI_API_HOSTS
        and port in (None, 443)
        and parts.username is None
        and parts.password is None
    )


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Take ``user:password@`` out of a URL.

    Args:
        url: The URL.

    Returns:
        The URL without them, then the user name and password (percent-decoded),
        or None for each that is absent.
    """
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return url, None, None
    if user is None and password is None:
        return url, None, None
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=netloc)), unquote(user or ""), unquote(password or "")
