"""INTERFACE §10 "Connections" against the real binary.

- a connection without a complete request head is closed 10 s after opening (N half heads at once,
  the seconds to close measured and printed) while the server keeps answering;
- `--idle-timeout 2` closes an idle keep-alive connection;
- `--max-connections 20`: extra connections are closed at accept, and slots come back;
- a 17 KiB head gets 431 (or a close) and the server keeps working; an 8 KiB head works.

The half-open connections are opened by the first test and checked by the last one, so the
~10 s wait overlaps the other tests.
"""
import selectors
import socket
import statistics
import threading
import time

import pytest
import requests

from conftest import launch_server, shutdown_server

HALF_OPEN_COUNT = 300
HEAD_DEADLINE = 10.0


def connect(base_url, timeout=5.0):
    host, port = base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_response(sock, timeout=5.0):
    """Reads one HTTP/1.1 response with a Content-Length body; returns (status, head text, body)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} bytes")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split(" ")[1]), head.decode("latin-1"), body


def closed_by_peer(sock, timeout):
    """True when the server closes `sock` (EOF or reset) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def get_status(base_url):
    started = time.monotonic()
    response = requests.get(base_url + "/status", timeout=5)
    return response.status_code, time.monotonic() - started


class HalfOpenWatch:
    """Opens N connections that send half a request head, then records when each one is closed."""

    def __init__(self, base_url, count):
        self.sockets = []
        self.opened = {}
        self.closed_after = {}
        for _ in range(count):
            sock = connect(base_url)
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
            sock.setblocking(False)
            self.opened[sock.fileno()] = time.monotonic()
            self.sockets.append(sock)
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        selector = selectors.DefaultSelector()
        for sock in self.sockets:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + HEAD_DEADLINE + 8
        while len(self.closed_after) < len(self.sockets) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                except BlockingIOError:
                    continue
                if data == b"":
                    self.closed_after[sock.fileno()] = time.monotonic() - self.opened[sock.fileno()]
                    selector.unregister(sock)
        selector.close()

    def finish(self):
        self.thread.join(HEAD_DEADLINE + 10)
        for sock in self.sockets:
            sock.close()
        return sorted(self.closed_after.values())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = launch_server(tmp_path_factory.mktemp("linkgate-connections"))
    yield srv
    shutdown_server(srv)


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory):
    srv = launch_server(tmp_path_factory.mktemp("linkgate-idle"), extra_args=["--idle-timeout", "2"])
    yield srv
    shutdown_server(srv)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    srv = launch_server(tmp_path_factory.mktemp("linkgate-limited"), extra_args=["--max-connections", "20"])
    yield srv
    shutdown_server(srv)


@pytest.fixture(scope="module")
def half_open(server):
    return HalfOpenWatch(server.base_url, HALF_OPEN_COUNT)


def test_half_heads_opened_and_server_still_answers(server, half_open):
    assert len(half_open.sockets) == HALF_OPEN_COUNT
    status, seconds = get_status(server.base_url)
    assert status == 200
    print(f"\nGET /status with {HALF_OPEN_COUNT} half-open connections: {seconds * 1000:.1f} ms")


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(idle_server):
    sock = connect(idle_server.base_url)
    try:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, _ = read_response(sock)
        assert status == 200
        answered = time.monotonic()
        assert closed_by_peer(sock, timeout=6), "idle keep-alive connection still open 6 s after its response"
        idle_seconds = time.monotonic() - answered
        print(f"\nidle keep-alive connection closed {idle_seconds:.2f} s after its response (--idle-timeout 2)")
        assert 1.5 <= idle_seconds <= 4.0
    finally:
        sock.close()
    # A busy keep-alive connection (requests 1 s apart) is not cut.
    sock = connect(idle_server.base_url)
    try:
        for _ in range(4):
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200
            time.sleep(1)
    finally:
        sock.close()


def test_max_connections_refuses_extra_ones_and_recovers(limited_server):
    base = limited_server.base_url
    held = []
    try:
        for _ in range(20):
            sock = connect(base)
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200   # served, now idle keep-alive
            held.append(sock)
        extra = [connect(base) for _ in range(10)]
        try:
            refused = sum(1 for sock in extra if closed_by_peer(sock, timeout=3))
            assert refused == 10, f"only {refused} of 10 connections above --max-connections 20 were closed"
        finally:
            for sock in extra:
                sock.close()
        # A held connection still works.
        held[0].sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(held[0])[0] == 200
    finally:
        for sock in held:
            sock.close()
    # Slots come back once the held connections are closed.
    deadline = time.monotonic() + 5
    while True:
        try:
            if requests.get(base + "/status", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "server did not accept connections again after the held ones closed"
        time.sleep(0.1)
    fresh = [connect(base) for _ in range(20)]
    try:
        for sock in fresh:
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200
    finally:
        for sock in fresh:
            sock.close()


def test_head_over_16_kib_gets_431_or_close_and_server_keeps_working(server):
    filler = b"a" * (17 * 1024)
    sock = connect(server.base_url)
    try:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + filler + b"\r\n\r\n")
        try:
            status, head, _ = read_response(sock)
        except (ConnectionError, OSError):
            status, head = None, ""
        assert status in (431, None), f"17 KiB head answered {status}"
        print(f"\n17 KiB head: {status or 'closed'}")
        if status is not None:
            assert closed_by_peer(sock, timeout=3)
    finally:
        sock.close()
    assert get_status(server.base_url)[0] == 200


def test_head_of_8_kib_still_works(server):
    response = requests.get(server.base_url + "/status", headers={"X-Filler": "a" * (8 * 1024)}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"state": "RUNNING"}


def test_half_heads_are_all_closed_after_ten_seconds(server, half_open):
    times = half_open.finish()
    assert len(times) == HALF_OPEN_COUNT, (
        f"{HALF_OPEN_COUNT - len(times)} of {HALF_OPEN_COUNT} half-open connections still open after "
        f"{HEAD_DEADLINE + 8:.0f} s")
    print(f"\n{HALF_OPEN_COUNT} half heads closed after: min {times[0]:.2f} s, median "
          f"{statistics.median(times):.2f} s, max {times[-1]:.2f} s")
    assert times[0] >= HEAD_DEADLINE - 0.5, f"closed too early: {times[0]:.2f} s"
    assert times[-1] <= HEAD_DEADLINE + 1.5, f"closed too late: {times[-1]:.2f} s"
    # The server answered throughout and still does.
    status, seconds = get_status(server.base_url)
    assert status == 200
