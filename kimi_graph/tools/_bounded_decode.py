"""Decode a compressed HTTP body without ever holding more than the cap.

httpx advertises every encoding it can decode (``zstd`` and ``br`` too when
``zstandard`` or ``brotli`` are installed, and langsmith installs zstandard), and
decodes a whole network chunk before the caller sees it: a 16 KB zstd body can
become a gigabyte inside one chunk. `fetch_url` therefore asks only for
`ACCEPT_ENCODING`, reads the raw bytes, and decodes them here with zlib's
``max_length``, so no call produces more than the bytes still allowed. A body in
an encoding that was not asked for is refused, not decoded.
"""

from __future__ import annotations

import zlib

__all__ = ["ACCEPT_ENCODING", "BoundedDecoder", "UnsupportedEncodingError"]

ACCEPT_ENCODING = "gzip, deflate"
"""The encodings requested: the ones decoded here with a bound (identity is implied)."""

_IDENTITY = {"", "identity"}
_GZIP = {"gzip", "x-gzip"}


class UnsupportedEncodingError(ValueError):
    """The server used a content encoding that was not asked for."""


class BoundedDecoder:
    """Turn raw body chunks into at most ``limit`` decoded bytes.

    Args:
        content_encoding: The response's ``Content-Encoding`` header (or "").
        limit: Most decoded bytes to keep; past it the body counts as clipped.

    Raises:
        UnsupportedEncodingError: For an encoding other than identity, gzip or
            deflate, or a list of several encodings.
    """

    def __init__(self, content_encoding: str, limit: int) -> None:
        """Set up the decoder for one response (see the class docstring)."""
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c not in _IDENTITY]
        if len(codings) > 1 or (codings and codings[0] not in {*_GZIP, "deflate"}):
            msg = (
                f"the server sent the body as {content_encoding!r}, which was not asked for "
                f"(Accept-Encoding: {ACCEPT_ENCODING})"
            )
            raise UnsupportedEncodingError(msg)
        self.coding = codings[0] if codings else "identity"
        self.limit = limit
        self.body = bytearray()
        self.clipped = False
        self._raw = 0
        self._zlib: zlib._Decompress | None = None
        self._first = b""  # deflate: kept until the wrapper (zlib or raw) is known
        if self.coding in _GZIP:
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)

    @property
    def done(self) -> bool:
        """Whether the cap has been reached (nothing more needs to be read)."""
        return self.clipped

    def feed(self, raw: bytes) -> None:
        """Decode one chunk of the raw body into `body`, never past `limit`.

        Args:
            raw: The next bytes as received.

        Raises:
            zlib.error: If the compressed data is corrupt.
        """
        if self.clipped or not raw:
            return
        self._raw += len(raw)
        if self.coding == "identity":
            self._keep(raw)
            return
        if self._zlib is None:  # deflate: zlib-wrapped as the RFC says, or raw as some send
            self._first += raw
            try:
                self._zlib = zlib.decompressobj()
                self._inflate(self._first)
            except zlib.error:
                self.body.clear()
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._inflate(self._first)
            self._first = b""
            return
        self._inflate(raw)
        if self._raw > self.limit:  # compressed bytes that never decode count too
            self.clipped = True

    def _inflate(self, data: bytes) -> None:
        decoder = self._zlib
        assert decoder is not None  # set before any call
        while data and not self.clipped:
            room = self.limit - len(self.body)
            out = decoder.decompress(data, room + 1)
            self._keep(out)
            data = decoder.unconsumed_tail
            if decoder.eof and decoder.unused_data and self.coding in _GZIP:
                # a gzip body may hold several members, one after the other
                data = decoder.unused_data
                decoder = self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def _keep(self, data: bytes) -> None:
        room = self.limit - len(self.body)
        if len(data) > room:
            self.body += data[:room]
            self.clipped = True
        else:
            self.body += data
