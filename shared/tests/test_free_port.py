"""Ports for the test suite's servers (services, brokers, PostgreSQL) cannot be taken by someone else between the
pick and the server's bind. CI once had a partner-client test talk to another test's service: its reporting port had
been picked minutes before the service bound it, from the kernel's ephemeral range, which every other worker's pick
and every outgoing connection draw from too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from lgnet_shared.testing.process import free_port


def ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_ports_are_outside_the_kernels_ephemeral_range() -> None:
    kernels = ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert not [p for p in ports if p in kernels], "ports the kernel may also give to bind(0) or a connection"


def test_a_worker_never_hands_out_a_port_twice_in_a_run() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_a_port_held_by_another_process_is_skipped() -> None:
    port = free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", port + 1))
        assert free_port() != port + 1


def test_each_xdist_worker_has_ports_of_its_own() -> None:
    """Workers pick independently: their ports never meet, whatever each worker's run hands out."""

    def picks(worker: str) -> set[int]:
        code = "from lgnet_shared.testing.process import free_port; print(*(free_port() for _ in range(400)))"
        env = {**os.environ, "PYTEST_XDIST_WORKER": worker}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        return {int(p) for p in out.stdout.split()}

    gw0, gw1, gw2 = picks("gw0"), picks("gw1"), picks("gw2")
    assert len(gw0) == len(gw1) == len(gw2) == 400
    assert not gw0 & gw1 and not gw0 & gw2 and not gw1 & gw2
