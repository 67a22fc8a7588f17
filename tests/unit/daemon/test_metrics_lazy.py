"""prometheus_client is berthd's only with ``--metrics-addr``: neither the CLI nor a daemon started
without the flag pays its import; and the flag's value is checked before anything starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from berth.daemon import config as config_mod
from berth.errors import InvalidArgument


def test_cli_and_daemon_do_not_import_prometheus_client() -> None:
    code = "import sys, berth.cli.main, berth.daemon.serve; print('prometheus_client' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("addr", ["9323", ":9323", "127.0.0.1:", "127.0.0.1:99999", "host:port"])
def test_bad_metrics_addr_is_refused(addr: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid --metrics-addr"):
        config_mod.load(["--metrics-addr", addr])


def test_metrics_addr_from_flag_and_file() -> None:
    assert config_mod.load(["--metrics-addr", "127.0.0.1:9323"]).metrics_addr == "127.0.0.1:9323"
    assert config_mod.metrics_address("[::1]:9323") == ("::1", 9323)
