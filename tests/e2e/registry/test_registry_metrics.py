"""``/metrics`` of a real berth-registry, scraped over HTTP and parsed with prometheus_client's own
parser, while skopeo pushes and pulls, a webhook receiver takes deliveries and gc runs."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from registry_e2e_helpers import RunningRegistry, basic, make_oci_layout, sha, skopeo, start_registry
from webhook_receiver import Receiver

from berth.testing.registry import free_port

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (apt install skopeo)")

ALICE = basic("alice", "alicepw")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(reg: RunningRegistry) -> tuple[str, Samples]:
    with urllib.request.urlopen(reg.url + "/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = resp.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def _skopeo_ok(*args: str) -> None:
    result = skopeo(*args)
    assert result.returncode == 0, result.stderr


def test_push_pull_webhook_and_gc_move_the_counters(tmp_path: Path) -> None:
    config = tmp_path / "registry.yml"
    config.write_text("auth: {bcrypt_rounds: 4}\nnotifications: {attempts: 2, backoff: 0.1, timeout: 5}\n")
    reg = start_registry(tmp_path / "root", users={"alice": "alicepw"}, config=config)
    receiver = Receiver(free_port()).start()
    try:
        assert reg.cli("webhook", "add", "alice", receiver.url, "--secret", "s").returncode == 0
        layout = tmp_path / "layout"
        layer_text = b"metrics " * 40_000
        make_oci_layout(layout, "v1", files={"big.txt": layer_text})
        layer_size = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
        ref = f"docker://{reg.host}/alice/secret-project:v1"
        _skopeo_ok(
            "copy", "--dest-tls-verify=false", "--dest-creds", "alice:alicepw", f"oci:{layout}:v1", ref
        )

        text, after_push = scrape(reg)
        assert "secret-project" not in text  # repository names never become labels
        assert (
            value(after_push, "registry_http_requests_total", handler="manifest", method="PUT", code="201")
            == 1
        )
        assert value(after_push, "registry_http_requests_total", handler="blob_upload", method="POST") >= 2
        assert value(after_push, "registry_http_request_size_bytes_sum") >= layer_size * 0.9
        assert value(after_push, "registry_http_request_duration_seconds_count", handler="manifest") >= 1
        assert value(after_push, "registry_storage_blobs_bytes") >= layer_size * 0.9
        assert value(after_push, "registry_storage_blobs") == 3  # config, layer, manifest
        assert value(after_push, "registry_http_in_flight_requests", handler="metrics") == 1  # this scrape

        pulled = tmp_path / "pulled"
        _skopeo_ok("copy", "--src-tls-verify=false", "--src-creds", "alice:alicepw", ref, f"oci:{pulled}:v1")
        _, after_pull = scrape(reg)
        sent = value(after_pull, "registry_http_response_size_bytes_sum", handler="blob")
        assert (
            sent - value(after_push, "registry_http_response_size_bytes_sum", handler="blob")
            >= layer_size * 0.9
        )
        assert (
            value(after_pull, "registry_http_requests_total", handler="manifest", method="GET", code="200")
            >= 1
        )

        # an upload left open, and a blob no manifest names (gc with no grace removes it)
        status, headers, _ = reg.request("POST", "/v2/alice/other/blobs/uploads/", headers=ALICE)
        assert status == 202
        orphan = b"nobody refers to me"
        status, headers, _ = reg.request("POST", "/v2/alice/other/blobs/uploads/", headers=ALICE)
        status, _, _ = reg.request(
            "PUT", f"{headers['Location']}?digest={sha(orphan)}", data=orphan, headers=ALICE
        )
        assert status == 201
        gc = reg.cli("gc", "--grace", "0")
        assert gc.returncode == 0, gc.stderr
        deadline = time.monotonic() + 10
        while True:
            _, last = scrape(reg)
            if value(last, "registry_notifications_deliveries_total", outcome="delivered") >= 1:
                break
            assert time.monotonic() < deadline, "the push's webhook was not delivered"
            time.sleep(0.1)
        assert value(last, "registry_uploads_in_progress") == 1
        assert value(last, "registry_gc_runs_total") == 1
        assert value(last, "registry_gc_removed_blobs_total") >= 1
        assert value(last, "registry_gc_removed_bytes_total") >= len(orphan)
        assert value(last, "registry_gc_last_run_timestamp_seconds") > time.time() - 60
        assert value(last, "registry_notifications_pending") == 0
        assert len(receiver.received) >= 1
    finally:
        receiver.stop()
        reg.stop()


def test_metrics_only_answer_the_allowed_networks(tmp_path: Path) -> None:
    config = tmp_path / "registry.yml"
    config.write_text("metrics: {allow: [10.0.0.0/8]}\n")
    reg = start_registry(tmp_path / "root", config=config)
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(reg.url + "/metrics", timeout=10)
        assert refused.value.code == 404
        refused.value.close()
    finally:
        reg.stop()
