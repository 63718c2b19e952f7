"""`serve` safe by default (issue 16.4): JSON only, Host checked, keys, bounded runs/connections."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from kimi_graph.emulator import Emulator
from kimi_graph.serve import ServeConfig
from kimi_graph.serve.guard import check_bind
from tests.integration_tests.serve_helpers import served, wait_for

BODY = {"model": "kimi-agent", "messages": [{"role": "user", "content": "What is 2+2?"}]}


def test_a_browser_simple_request_is_refused_before_any_run(emulator: Emulator) -> None:
    """text/plain with a foreign Origin needs no CORS preflight: it must not run."""
    import json

    with served(emulator) as srv:
        mark = len(emulator.requests)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
            response = httpx.post(
                f"{srv.base_url}/chat/completions",
                content=json.dumps(BODY),
                headers={"content-type": content_type, "origin": "https://evil.example"},
            )
            assert response.status_code == 415, content_type
            error = response.json()["error"]
            assert error["code"] == "unsupported_media_type"
            assert "application/json" in error["message"]
        assert emulator.requests[mark:] == []
        ok = httpx.post(
            f"{srv.base_url}/chat/completions",
            content=json.dumps(BODY),
            headers={"content-type": "application/json; charset=utf-8"},
            timeout=30,
        )
        assert ok.status_code == 200


def test_a_foreign_host_header_is_refused(emulator: Emulator) -> None:
    """DNS rebinding: a page's own name pointed at 127.0.0.1 is not a name of the server."""
    with served(emulator) as srv:
        port = srv.url.rsplit(":", 1)[1]
        mark = len(emulator.requests)
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
            response = httpx.post(
                f"{srv.base_url}/chat/completions", json=BODY, headers={"host": host}
            )
            assert response.status_code == 400, host
            assert response.json()["error"]["code"] == "invalid_host"
        assert emulator.requests[mark:] == []
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
            response = httpx.get(f"{srv.base_url}/models", headers={"host": host})
            assert response.status_code == 200, host
    with served(emulator, allowed_hosts=("kimi.internal",)) as srv:
        assert httpx.get(f"{srv.base_url}/models", headers={"host": "kimi.internal"}).is_success
        assert httpx.get(f"{srv.base_url}/models").status_code == 400  # not in its list


def test_non_loopback_bind_needs_a_key_or_an_explicit_flag() -> None:
    check_bind("127.0.0.1", has_key=False, insecure_no_auth=False)
    check_bind("::1", has_key=False, insecure_no_auth=False)
    check_bind("0.0.0.0", has_key=True, insecure_no_auth=False)
    check_bind("0.0.0.0", has_key=False, insecure_no_auth=True)
    for host in ("0.0.0.0", "::", "192.0.2.7"):
        with pytest.raises(ValueError, match="without an API key"):
            check_bind(host, has_key=False, insecure_no_auth=False)


@pytest.mark.parametrize("key_args", [[], ["--api-key", ""], ["--api-key", "   "]])
def test_the_cli_refuses_an_open_non_loopback_bind(key_args: list[str]) -> None:
    """An empty key is no key; the refusal comes before any socket is bound."""
    proc = subprocess.run(
        [sys.executable, "-m", "kimi_graph.cli", "serve", "--host", "0.0.0.0", "--port", "0"]
        + ["--emulator", "--tools", "none", *key_args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[3])},
        check=False,
    )
    assert proc.returncode == 2
    assert "without an API key" in proc.stderr and "--insecure-no-auth" in proc.stderr
    assert "listening" not in proc.stdout


def test_an_empty_key_is_no_key() -> None:
    assert ServeConfig(api_key="").api_key is None
    assert ServeConfig(api_key="  ").api_key is None
    assert ServeConfig(api_key="k").api_key is not None


def test_threads_are_one_trust_domain_per_key(emulator: Emulator, tmp_path: Path) -> None:
    """One key, one trust domain (README): its holders share threads; others get 401."""
    with served(emulator, api_key="team-key", checkpoint=str(tmp_path / "t.sqlite")) as srv:
        alice = OpenAI(base_url=srv.base_url, api_key="team-key", max_retries=0)
        alice.chat.completions.create(
            model="kimi-instant",
            messages=[{"role": "user", "content": "What is 2+3?"}],
            extra_headers={"X-Thread-Id": "shared"},
        )
        mark = len(emulator.requests)
        stranger = httpx.post(
            f"{srv.base_url}/chat/completions",
            json={**BODY, "model": "kimi-instant", "thread_id": "shared"},
            headers={"authorization": "Bearer other-key"},
        )
        assert stranger.status_code == 401
        assert emulator.requests[mark:] == []
        bob = OpenAI(base_url=srv.base_url, api_key="team-key", max_retries=0)
        bob.chat.completions.create(
            model="kimi-instant",
            messages=[{"role": "user", "content": "What is 1+1?"}],
            extra_headers={"X-Thread-Id": "shared"},
        )
        assert len(emulator.requests[mark].body["messages"]) == 3


def test_runs_beyond_the_limit_are_503(emulator: Emulator) -> None:
    with served(emulator, max_runs=1) as srv:
        url = f"{srv.base_url}/chat/completions"
        hang = {
            "model": "kimi-instant",
            "messages": [{"role": "user", "content": "[[fault hang 5]]"}],
        }
        with httpx.Client(timeout=30) as first:
            import threading

            holder = threading.Thread(target=lambda: first.post(url, json=hang), daemon=True)
            holder.start()
            runs = srv.app.state.kimi.runs
            wait_for(lambda: runs.active == 1, "the first run")
            busy = httpx.post(url, json={**hang, "messages": [{"role": "user", "content": "hi"}]})
            assert busy.status_code == 503
            assert busy.json()["error"]["code"] == "server_busy"
            assert busy.headers["retry-after"] == "1"
            holder.join(30)
        wait_for(lambda: srv.app.state.kimi.runs.active == 0, "the run to end")
        assert httpx.post(
            url, json={**hang, "messages": [{"role": "user", "content": "hi"}]}
        ).is_success


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _closed_within(sock: socket.socket, deadline: float) -> float:
    """Seconds until the server closes `sock` (reading what it sends); fail past `deadline`."""
    start = time.monotonic()
    sock.settimeout(deadline)
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the connection was still open after {deadline}s") from None
        except ConnectionResetError:
            data = b""
        if not data:
            return time.monotonic() - start


def test_slow_and_half_sent_requests_are_dropped_in_bounded_time(emulator: Emulator) -> None:
    """50 half-sent headers and 50 slow bodies: every connection is closed within the bounds."""
    with served(emulator, header_timeout=1.0, body_timeout=1.0) as srv:
        half_headers = []
        for _ in range(50):
            sock = _connect(srv.url)
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            half_headers.append(sock)
        slow_bodies = []
        for _ in range(50):
            sock = _connect(srv.url)
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model"'
            )
            slow_bodies.append(sock)
        # An idle connection that never sends a byte is dropped too.
        idle = _connect(srv.url)
        waits = [_closed_within(s, 8.0) for s in [*half_headers, *slow_bodies, idle]]
        for sock in [*half_headers, *slow_bodies, idle]:
            sock.close()
        assert max(waits) < 8.0
        # The slow bodies were answered 408 before the close.
        sock = _connect(srv.url)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        sock.settimeout(8.0)
        head = sock.recv(65536)
        sock.close()
        assert head.startswith(b"HTTP/1.1 408"), head[:100]
        # A keep-alive connection that starts a second request and stalls is dropped too.
        sock = _connect(srv.url)
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(8.0)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_within(sock, 8.0) < 8.0
        sock.close()
        assert httpx.get(f"{srv.base_url}/models").is_success
