
import os

import pytest

pytestmark = pytest.mark.shared_service


@pytest.mark.parametrize("n", range(3))
async def test_shared(payments, n):
    with open("pids.txt", "a") as f:
        f.write(f"shared {payments.process.proc.pid} {payments.prefix}\n")


@pytest.mark.own_service
async def test_own(payments):
    with open("pids.txt", "a") as f:
        f.write(f"own {payments.process.proc.pid} {payments.prefix}\n")
