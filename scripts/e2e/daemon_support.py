"""A third-party daemon (nginx, Apache httpd) run privately on loopback for one suite.

The daemon gets a session of its own: on SIGTERM httpd's prefork MPM signals its whole process group
(killpg(getpgrp())), which would otherwise be pytest's and the CI runner's. Stopping it signals the group,
so no worker outlives the suite.
"""

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest

from conftest import _free_port as free_port  # noqa: F401 (the suites' port helper, re-exported)


def _wait_for_port(process, port, deadline):
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _signal_group(process, sig):
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@contextmanager
def private_daemon(name, command, output_path, ports, stop_signal, start_timeout=15.0, stop_timeout=10.0,
                   env=None, describe_failure=lambda: ""):
    """Starts `command` (in the foreground, not daemonizing) with its output in `output_path`, waits until it
    accepts connections on every port in `ports`, yields the process; then stops it with `stop_signal`
    (the daemon's graceful stop) and SIGKILLs its group if it lingers."""
    output = open(output_path, "wb")
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout
        if not all(_wait_for_port(process, port, deadline) for port in ports):
            code = process.poll()
            pytest.fail(f"{name} did not start (exit code {code}):\n"
                        f"{output_path.read_text(errors='replace')}\n{describe_failure()}")
        yield process
        if process.poll() is None:
            process.send_signal(stop_signal)
            try:
                process.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                pass
    finally:
        _signal_group(process, signal.SIGKILL)
        try:
            process.wait(5)
        finally:
            output.close()
