"""fetch_url against a local server on 127.0.0.1; refusals are checked before connecting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from _tools_test_server import LocalServer, Reply
from langchain_core.messages import ToolMessage

from kimi_graph.tools import FetchURLTool, fetch_url, make_fetch_url

HTML = b"""<!doctype html>
<html><head><title>Kimi  Test Page</title>
<style>body { color: red }</style><script>alert("no")</script></head>
<body><h1>Heading</h1><p>First paragraph with <b>bold</b> text.</p>
<ul><li>one</li><li>two</li></ul><noscript>hidden</noscript>
<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
<pre>  keep   spacing</pre></body></html>"""


def local(**kwargs: Any) -> FetchURLTool:
    return make_fetch_url(allow_private=True, **kwargs)


def test_plain_text(server: LocalServer) -> None:
    server.routes["/t"] = Reply(body=b"hello\nworld", headers={"Content-Type": "text/plain"})
    out = local().invoke({"url": server.url("/t")})
    assert out.startswith(f"URL: {server.url('/t')}\nStatus: 200")
    assert out.endswith("hello\nworld")
    assert server.requests[0].headers["user-agent"].startswith("Mozilla/5.0 (compatible; kimi")


def test_html_becomes_text(server: LocalServer) -> None:
    server.routes["/h"] = Reply(body=HTML, headers={"Content-Type": "text/html; charset=utf-8"})
    out = local().invoke({"url": server.url("/h")})
    assert "Title: Kimi Test Page" in out
    assert "Heading" in out
    assert "First paragraph with bold text." in out
    assert "\n- one\n- two\n" in out
    assert "  keep   spacing" in out
    assert "a | b\n1 | 2" in out
    for hidden in ("alert", "color: red", "hidden", "<p>"):
        assert hidden not in out


def test_json_passes_through(server: LocalServer) -> None:
    data = {"model": "kimi-k2.5", "modes": ["instant", "thinking"]}
    server.routes["/j"] = Reply(
        body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
    out = local().invoke({"url": server.url("/j")})
    assert json.loads(out.split("\n\n", 1)[1]) == data


def test_latin1_charset_is_decoded(server: LocalServer) -> None:
    server.routes["/l"] = Reply(
        body="café".encode("latin-1"), headers={"Content-Type": "text/plain; charset=latin-1"}
    )
    assert local().invoke({"url": server.url("/l")}).endswith("café")


def test_size_limit_clips_and_says_so(server: LocalServer) -> None:
    server.routes["/big"] = Reply(body=b"a" * 200_000, headers={"Content-Type": "text/plain"})
    out = local(max_bytes=1_000).invoke({"url": server.url("/big")})
    assert "[response truncated after 1000 bytes]" in out
    assert out.count("a") < 1_100


def test_text_limit_clips_and_says_so(server: LocalServer) -> None:
    server.routes["/long"] = Reply(body=b"b" * 5_000, headers={"Content-Type": "text/plain"})
    out = local(max_chars=100).invoke({"url": server.url("/long")})
    assert "[text clipped to 100 of 5000 characters]" in out
    assert "b" * 101 not in out


def test_slow_response_times_out(server: LocalServer) -> None:
    server.routes["/slow"] = Reply(body=b"late", delay=1.5, headers={"Content-Type": "text/plain"})
    start = time.monotonic()
    out = local(timeout=0.3).invoke({"url": server.url("/slow")})
    assert time.monotonic() - start < 1.2
    assert out.startswith("Error: fetch_url timed out after 0.3s")


def _chain(server: LocalServer, length: int) -> None:
    for n in range(length, 0, -1):
        server.routes[f"/r{n}"] = Reply(302, headers={"Location": f"/r{n - 1}"})
    server.routes["/r0"] = Reply(body=b"arrived", headers={"Content-Type": "text/plain"})


def test_redirects_are_followed_up_to_the_limit(server: LocalServer) -> None:
    _chain(server, 5)
    out = local().invoke({"url": server.url("/r5")})
    assert out.startswith(f"URL: {server.url('/r0')}")
    assert out.endswith("arrived")
    assert [r.path for r in server.requests] == [f"/r{n}" for n in range(5, -1, -1)]


def test_too_many_redirects(server: LocalServer) -> None:
    _chain(server, 6)
    out = local().invoke({"url": server.url("/r6")})
    assert out == f"Error: fetch_url stopped after 5 redirects starting at {server.url('/r6')}."
    assert len(server.requests) == 6  # the 7th hop was never requested


def test_absolute_redirect_and_303(server: LocalServer) -> None:
    server.routes["/a"] = Reply(303, headers={"Location": server.url("/b")})
    server.routes["/b"] = Reply(body=b"ok", headers={"Content-Type": "text/plain"})
    assert local().invoke({"url": server.url("/a")}).endswith("ok")


def test_binary_content_type_refused(server: LocalServer) -> None:
    server.routes["/img"] = Reply(
        body=b"\x89PNG\r\n\x1a\n" + b"\0" * 50, headers={"Content-Type": "image/png"}
    )
    out = local().invoke({"url": server.url("/img")})
    assert out.startswith("Error: fetch_url refused")
    assert "'image/png' is binary" in out


def test_binary_without_content_type_refused(server: LocalServer) -> None:
    server.routes["/blob"] = Reply(body=b"\x00\x01\x02" * 10)
    out = local().invoke({"url": server.url("/blob")})
    assert out == f"Error: fetch_url refused {server.url('/blob')}: the response looks binary."


def test_http_404_is_an_error_string(server: LocalServer) -> None:
    out = local().invoke({"url": server.url("/missing")})
    assert out.startswith(f"Error: fetch_url got HTTP 404 Not Found for {server.url('/missing')}")


def test_connection_refused_is_an_error_string() -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = local().invoke({"url": f"http://127.0.0.1:{port}/"})
    assert out.startswith(
        f"Error: fetch_url could not fetch http://127.0.0.1:{port}/: ConnectError"
    )


# -- refusals: the check happens before any connection ---------------------------


def test_loopback_refused_by_default(server: LocalServer, connect_log: list[object]) -> None:
    server.routes["/"] = Reply(body=b"secret", headers={"Content-Type": "text/plain"})
    out = fetch_url.invoke({"url": server.url("/")})
    assert out.startswith(f"Error: fetch_url refused {server.url('/')}: 127.0.0.1 is a loopback")
    assert "allow_private=True" in out
    assert server.requests == []
    assert connect_log == []


def test_tool_call_gives_error_status(server: LocalServer) -> None:
    call = {"name": "fetch_url", "args": {"url": server.url("/")}, "id": "c1", "type": "tool_call"}
    message = fetch_url.invoke(call)
    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    assert message.content.startswith("Error: fetch_url refused")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1 is a private (IPv4 inside IPv6) address"),
    ],
)
def test_redirect_to_private_address_refused_before_connecting(
    server: LocalServer, connect_log: list[object], target: str, reason: str
) -> None:
    server.routes["/go"] = Reply(302, headers={"Location": target})
    tool = make_fetch_url(allowed_hosts=("127.0.0.1",))  # the local server only
    out = tool.invoke({"url": server.url("/go")})
    assert out.startswith(f"Error: fetch_url refused redirect from {server.url('/go')} to ")
    assert reason in out
    assert len(server.requests) == 1
    # The spy saw the connection to the allowed server, and nothing else.
    assert connect_log
    assert all(address[0] == "127.0.0.1" for address in connect_log)


def test_redirect_to_file_scheme_refused(server: LocalServer) -> None:
    server.routes["/go"] = Reply(301, headers={"Location": "file:///etc/passwd"})
    out = local().invoke({"url": server.url("/go")})
    assert out.startswith(f"Error: fetch_url refused redirect from {server.url('/go')} to file")
    assert "only http:// and https://" in out


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://ftp.example.com/x",
        "gopher://example.com/",
        "javascript:alert(1)",
    ],
)
def test_non_http_schemes_refused(url: str, connect_log: list[object]) -> None:
    out = local().invoke({"url": url})
    assert out.startswith("Error: fetch_url refused URL")
    assert "only http:// and https:// URLs are supported" in out
    assert connect_log == []


def test_relative_url_refused() -> None:
    assert local().invoke({"url": "/etc/passwd"}).startswith("Error: fetch_url refused URL")


def _fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Answer getaddrinfo for names in ``table``; everything else resolves normally."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host in table:
            asked.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port),
                )
                for ip in table[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_name_resolving_to_private_address_refused(
    monkeypatch: pytest.MonkeyPatch, connect_log: list[object]
) -> None:
    _fake_dns(monkeypatch, {"rebind.test": ["93.184.216.34", "10.0.0.1"]})
    out = fetch_url.invoke({"url": "http://rebind.test/"})
    assert out.startswith("Error: fetch_url refused http://rebind.test/: 10.0.0.1 is a private")
    assert connect_log == []


def test_connection_is_pinned_to_the_checked_address(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _fake_dns(monkeypatch, {"pinned.test": ["127.0.0.1"]})
    server.routes["/p"] = Reply(body=b"pinned", headers={"Content-Type": "text/plain"})
    tool = make_fetch_url(allowed_hosts=("127.0.0.0/8",))
    out = tool.invoke({"url": f"http://pinned.test:{server.port}/p"})
    assert out.endswith("pinned")
    assert out.startswith(f"URL: http://pinned.test:{server.port}/p")
    assert asked == ["pinned.test"]  # resolved once, by the check; the client used the IP
    assert server.requests[0].headers["host"] == f"pinned.test:{server.port}"


@pytest.mark.parametrize(
    ("address", "expected_url"),
    [
        ("93.184.216.34", "https://93.184.216.34/x?q=1"),
        ("2606:4700::1", "https://[2606:4700::1]/x?q=1"),
    ],
)
def test_https_request_is_pinned_with_original_host_and_sni(
    address: str, expected_url: str
) -> None:
    tool = make_fetch_url()
    with httpx.Client() as client:  # built, never sent
        request = tool._build_request(
            client, httpx.URL("https://example.com/x?q=1"), address, time.monotonic() + 5
        )
    assert str(request.url) == expected_url
    assert request.headers["Host"] == "example.com"
    assert request.extensions["sni_hostname"] == "example.com"


def test_unreachable_address_falls_back_to_the_next_checked_one(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dns(monkeypatch, {"two.test": ["::1", "127.0.0.1"]})
    server.routes["/"] = Reply(body=b"v4", headers={"Content-Type": "text/plain"})
    out = local().invoke({"url": f"http://two.test:{server.port}/"})
    assert out.endswith("v4")


def test_allowed_hosts_by_name(server: LocalServer) -> None:
    server.routes["/n"] = Reply(body=b"by name", headers={"Content-Type": "text/plain"})
    tool = make_fetch_url(allowed_hosts=["localhost"])
    assert tool.invoke({"url": f"http://localhost:{server.port}/n"}).endswith("by name")
    assert (
        make_fetch_url()
        .invoke({"url": f"http://localhost:{server.port}/n"})
        .startswith("Error: fetch_url refused")
    )


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    out = fetch_url.invoke({"url": "http://no-such-host.invalid/"})
    assert out.startswith(
        "Error: fetch_url could not resolve the host of http://no-such-host.invalid/"
    )


def test_invalid_arguments_are_reported() -> None:
    assert fetch_url.invoke({"url": ""}).startswith("Error: invalid arguments (url:")


# -- async ------------------------------------------------------------------------


async def test_async_text_and_html(server: LocalServer) -> None:
    server.routes["/h"] = Reply(body=HTML, headers={"Content-Type": "text/html"})
    out = await local().ainvoke({"url": server.url("/h")})
    assert "Title: Kimi Test Page" in out
    assert "alert" not in out


async def test_async_size_limit(server: LocalServer) -> None:
    server.routes["/big"] = Reply(body=b"z" * 100_000, headers={"Content-Type": "text/plain"})
    out = await local(max_bytes=500).ainvoke({"url": server.url("/big")})
    assert "[response truncated after 500 bytes]" in out


async def test_async_refusal_before_connect(server: LocalServer, connect_log: list[object]) -> None:
    out = await fetch_url.ainvoke({"url": server.url("/")})
    assert out.startswith("Error: fetch_url refused")
    assert server.requests == []
    assert connect_log == []


async def test_async_redirect_to_metadata_refused(
    server: LocalServer, connect_log: list[object]
) -> None:
    server.routes["/go"] = Reply(
        302, headers={"Location": "http://169.254.169.254/latest/meta-data"}
    )
    out = await make_fetch_url(allowed_hosts=("127.0.0.1",)).ainvoke({"url": server.url("/go")})
    assert "169.254.169.254 is a link-local address" in out
    assert all(address[0] == "127.0.0.1" for address in connect_log)


async def test_async_too_many_redirects(server: LocalServer) -> None:
    _chain(server, 3)
    out = await local(max_redirects=2).ainvoke({"url": server.url("/r3")})
    assert out.startswith("Error: fetch_url stopped after 2 redirects")


async def test_async_timeout(server: LocalServer) -> None:
    server.routes["/slow"] = Reply(body=b"late", delay=1.5, headers={"Content-Type": "text/plain"})
    start = time.monotonic()
    out = await local(timeout=0.3).ainvoke({"url": server.url("/slow")})
    assert time.monotonic() - start < 1.2
    assert out.startswith("Error: fetch_url timed out after 0.3s")


async def test_async_pinned(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"pinned.test": ["127.0.0.1"]})
    server.routes["/p"] = Reply(body=b"pinned", headers={"Content-Type": "text/plain"})
    out = await make_fetch_url(allowed_hosts=("127.0.0.1",)).ainvoke(
        {"url": f"http://pinned.test:{server.port}/p"}
    )
    assert out.endswith("pinned")
    assert server.requests[0].headers["host"] == f"pinned.test:{server.port}"


def test_sync_deadline_holds_against_a_server_trickling_headers() -> None:
    """A header line every 50 ms resets httpx's read timeout; the deadline still holds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    sent: list[int] = []

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        lines = 0
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(400):  # 20 s if nobody stops it
                conn.sendall(b"X-Slow: 1\r\n")
                lines += 1
                time.sleep(0.05)
        except OSError:
            pass  # the client hung up at its deadline
        finally:
            sent.append(lines)
            conn.close()

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    try:
        port = listener.getsockname()[1]
        out = local(timeout=0.5).invoke({"url": f"http://127.0.0.1:{port}/"})
        server.join(30)
    finally:
        listener.close()
    assert out.startswith("Error: fetch_url timed out after 0.5s")
    assert sent and sent[0] < 400  # the client left long before the server was done


# -- issue 16: decompression bombs --------------------------------------------------

BOMB_MIB = 256


def _gzip_bomb() -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"A" * (1024 * 1024)
    return b"".join(comp.compress(block) for _ in range(BOMB_MIB)) + comp.flush()


def _zstd_bomb() -> bytes:
    zstandard = pytest.importorskip("zstandard")
    comp = zstandard.ZstdCompressor(level=19).compressobj()
    block = b"A" * (1024 * 1024)
    return b"".join(comp.compress(block) for _ in range(BOMB_MIB)) + comp.flush()


_CHILD = """\
import asyncio, json, resource, sys
from kimi_graph.tools import make_fetch_url
tool = make_fetch_url(allow_private=True, timeout=30)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] == "ainvoke":
    out = asyncio.run(tool.ainvoke({"url": sys.argv[1]}))
else:
    out = tool.invoke({"url": sys.argv[1]})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "out": out[:300] + out[-300:]}))
"""


def _fetch_in_child(url: str, mode: str) -> dict[str, object]:
    """Fetch in a fresh interpreter and report its peak memory growth."""
    root = Path(__file__).parents[3]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, url, mode],
        capture_output=True,
        timeout=120,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return json.loads(proc.stdout)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_gzip_bomb_is_decoded_only_up_to_the_cap(server: LocalServer, mode: str) -> None:
    bomb = _gzip_bomb()
    assert len(bomb) < 1024 * 1024  # 256 MiB of zeros in a few hundred KB
    server.routes["/bomb"] = Reply(
        body=bomb, headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"}
    )
    report = _fetch_in_child(server.url("/bomb"), mode)
    assert "[response truncated after 1000000 bytes]" in str(report["out"])
    growth_mib = int(report["growth_kib"]) / 1024  # type: ignore[call-overload]
    assert growth_mib < 16, f"peak memory grew by {growth_mib:.0f} MiB"
    asked = server.requests[-1].headers["accept-encoding"]
    assert {c.strip() for c in asked.split(",")} == {"gzip", "deflate"}


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_zstd_bomb_is_refused_not_decoded(server: LocalServer, mode: str) -> None:
    bomb = _zstd_bomb()
    server.routes["/bomb"] = Reply(
        body=bomb, headers={"Content-Type": "text/plain", "Content-Encoding": "zstd"}
    )
    report = _fetch_in_child(server.url("/bomb"), mode)
    out = str(report["out"])
    assert out.startswith("Error: fetch_url refused"), out
    assert "'zstd', which was not asked for (Accept-Encoding: gzip, deflate)" in out
    growth_mib = int(report["growth_kib"]) / 1024  # type: ignore[call-overload]
    assert growth_mib < 16, f"peak memory grew by {growth_mib:.0f} MiB"
    assert "zstd" not in server.requests[-1].headers["accept-encoding"]


def test_deflate_zlib_and_raw_and_multi_member_gzip_decode(server: LocalServer) -> None:
    text = b"hello deflate " * 100
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    members = [zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16) for _ in range(2)]
    bodies = {
        "/zlib": (zlib.compress(text), "deflate"),
        "/raw": (raw.compress(text) + raw.flush(), "deflate"),
        "/two": (b"".join(m.compress(text) + m.flush() for m in members), "gzip"),
    }
    for path, (body, coding) in bodies.items():
        server.routes[path] = Reply(
            body=body, headers={"Content-Type": "text/plain", "Content-Encoding": coding}
        )
    tool = local()
    assert tool.invoke({"url": server.url("/zlib")}).endswith(text.decode().strip())
    assert tool.invoke({"url": server.url("/raw")}).endswith(text.decode().strip())
    assert tool.invoke({"url": server.url("/two")}).count("hello deflate") == 200


def test_corrupt_gzip_is_an_error(server: LocalServer) -> None:
    server.routes["/bad"] = Reply(
        body=b"\x1f\x8b\x08\x00garbage-not-gzip" * 10,
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    out = local().invoke({"url": server.url("/bad")})
    assert out.startswith("Error: fetch_url could not fetch"), out
    assert "gzip body is corrupt" in out
