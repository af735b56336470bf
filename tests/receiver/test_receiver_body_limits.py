"""Request bodies over real HTTP: every route that takes a POST stops reading at its limit and answers 413.

A chunked upload far over the limit is answered (and the connection closed) while the client is
still sending: the server read at most its limit plus what the sockets buffer, never the whole body.
A declared Content-Length over the limit is refused before a byte of the body is sent.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterable, Iterator
from itertools import repeat
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lifeline_hub.core.receiver.guards import CALLBACK_LIMIT, FORM_LIMIT
from lifeline_hub.core.store import Store
from tests.receiver.receiver_helpers import (
    NOW,
    TENANT,
    callback_instances,
    load_config,
    plugin_host,
    running_receiver,
    stored_rows,
)

HUGE = 64 * 1024 * 1024
"""Far more than any limit plus every socket buffer between client and server."""
CHUNK = 64 * 1024
ROUTES = {"/callbacks/acme.aiplatform": CALLBACK_LIMIT, "/c/some-token": FORM_LIMIT, "/r/some-token": FORM_LIMIT,
          "/hr/some.link": FORM_LIMIT, "/j/some-token": FORM_LIMIT}


@pytest.fixture
def receiver(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    host = plugin_host()
    tables, _ = callback_instances(host, monkeypatch, ["aiplatform"])
    with running_receiver(load_config(tmp_path, tables, host), store, host, clock=lambda: NOW) as url:
        yield url


def chunked(body_bytes: int) -> Iterator[bytes]:
    """A chunked body of `body_bytes` (whole chunks), frame by frame."""
    yield from repeat(b"%x\r\n%s\r\n" % (CHUNK, b"a" * CHUNK), body_bytes // CHUNK)
    yield b"0\r\n\r\n"


def post(url: str, path: str, head: str, frames: Iterable[bytes] = ()) -> tuple[int, int]:
    """POST `path` with `head` (header lines), then `frames` until the server answers; returns the status
    and how many bytes of the body the client got out before the answer."""
    where = urlsplit(url)
    frames = iter(frames)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\n{head}\r\n".encode())
        sock.setblocking(False)
        sent, pending, answer = 0, next(frames, b""), b""
        while b"\r\n\r\n" not in answer:
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 30)
            if not readable and not writable:
                pytest.fail(f"no answer from {path} after {sent} body bytes")
            try:
                if readable:
                    got = sock.recv(65536)
                    if not got:
                        break
                    answer += got
                else:
                    done = sock.send(pending)
                    sent += done
                    pending = pending[done:] or next(frames, b"")
            except (BrokenPipeError, ConnectionResetError):
                sock.setblocking(True)
                answer += sock.recv(65536)  # the answer came before the reset
                break
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    return int(answer.split(b" ", 2)[1]), sent


@pytest.mark.parametrize("path", ROUTES)
def test_a_chunked_body_far_over_the_limit_is_cut_off(receiver: str, store: Store, path: str) -> None:
    status, sent = post(receiver, path, "Transfer-Encoding: chunked\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n", chunked(HUGE))
    assert status == 413
    assert sent < HUGE // 2  # answered mid-upload: the server stopped reading
    assert stored_rows(store)["evidence"] == store.count("link_tokens") == 0


@pytest.mark.parametrize("path", ROUTES)
def test_a_declared_length_over_the_limit_is_refused_before_the_body(receiver: str, path: str) -> None:
    status, sent = post(receiver, path, f"Content-Length: {ROUTES[path] + 1}\r\n")
    assert (status, sent) == (413, 0)


def test_bodies_within_the_limit_are_read(receiver: str, store: Store) -> None:
    status, _ = post(receiver, f"/callbacks/{TENANT}.aiplatform", "Transfer-Encoding: chunked\r\n", chunked(4 * CHUNK))
    assert status == 401  # read whole, then refused as unsigned
    status, _ = post(receiver, "/c/some-token", "Transfer-Encoding: chunked\r\n", chunked(0))
    assert status == 404
