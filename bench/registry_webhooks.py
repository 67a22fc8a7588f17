"""Benchmark: webhook delivery does not slow pushes (issue 15): push time with 5 slow receivers
against none.

    .venv/bin/python bench/registry_webhooks.py [--images 100] [--pushers 4] [--runs 3]
        [--drain-timeout 300]

Starts two berth-registry processes on loopback with the same config (``notifications``: attempts 5,
backoff 0.5 s, backoff_max 4 s, timeout 3 s): "none" has no webhook, "5 hooks" has five hooks on
the ``bench`` namespace whose receivers (aiohttp, in a child process of this script) are slow on
purpose: two answer 200 after 2 s, one hangs past the timeout on each first attempt (then 200), two
answer 500 to each first attempt (then 200), so every push event costs the worker slow requests,
timeouts and retries with backoff. Each run pushes ``--images`` images (config, three random layers
of 2, 8 and 32 KiB, an OCI manifest; POST + monolithic PUT per blob, as a client that knows the
digest) from ``--pushers`` threads over keep-alive connections with a bearer token. Runs alternate
(none, 5 hooks, none, …); after each 5-hook run the queue still pending is read with
``berth-registry webhook ls`` and the script waits (at most ``--drain-timeout`` s) until every
receiver got every event, so the next baseline runs on a quiet registry. Prints the best and the
median run of each, their ratio against the target (≤ 1.05), the per-image latency, and the
deliveries the receivers saw. All processes are stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from berth.testing.registry import RegistryProcess, free_port, start_berth_registry  # noqa: E402

TARGET = 1.05
NAMESPACE = "bench"
MODES = ("slow", "slow", "hang", "fail", "fail")
SLOW_SECONDS = 2.0
HANG_SECONDS = 6.0  # longer than the registry's 3 s timeout
LAYER_SIZES = (2 << 10, 8 << 10, 32 << 10)
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG_YAML = (
    "auth:\n  bcrypt_rounds: 4\n"
    "notifications:\n  attempts: 5\n  backoff: 0.5\n  backoff_max: 4\n  timeout: 3\n"
)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# receivers (run as ``registry_webhooks.py --serve-receivers``) --------------------------------------
def serve_receivers(ports: list[int], control: int) -> None:
    """One aiohttp receiver per port (``MODES`` in order) and GET /stats on ``control`` until killed."""
    from aiohttp import web

    stats = {
        str(port): {"mode": mode, "requests": 0, "delivered": 0}
        for port, mode in zip(ports, MODES, strict=True)
    }

    def handler(port: int, mode: str) -> object:
        counts = stats[str(port)]

        async def handle(request: web.Request) -> web.Response:
            await request.read()
            counts["requests"] += 1
            first = request.headers.get("X-Berth-Attempt") == "1"
            if mode == "slow":
                await asyncio.sleep(SLOW_SECONDS)
            elif mode == "hang" and first:
                await asyncio.sleep(HANG_SECONDS)  # the registry has given up on it by now
                return web.Response(status=504)
            elif mode == "fail" and first:
                return web.Response(status=500)
            counts["delivered"] += 1
            return web.Response(status=200)

        return handle

    async def get_stats(_: web.Request) -> web.Response:
        return web.json_response(stats)

    async def main() -> None:
        for port, mode in zip(ports, MODES, strict=True):
            app = web.Application()
            app.router.add_post("/hook", handler(port, mode))  # type: ignore[arg-type]
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        app = web.Application()
        app.router.add_get("/stats", get_stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", control).start()
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class Receivers:
    process: subprocess.Popen[bytes]
    ports: list[int]
    control: int

    def stats(self) -> dict[str, dict[str, object]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.control}/stats", timeout=10) as resp:
            loaded: dict[str, dict[str, object]] = json.loads(resp.read())
            return loaded

    def delivered(self) -> list[int]:
        return [int(str(s["delivered"])) for s in self.stats().values()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_receivers() -> Receivers:
    ports = [free_port() for _ in MODES]
    control = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-receivers", ",".join(map(str, ports)), "--control", str(control)]
    )
    receivers = Receivers(process, ports, control)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            receivers.stats()
            return receivers
        except OSError:
            time.sleep(0.1)
    receivers.stop()
    raise SystemExit("the webhook receivers did not start")


# pushes -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Image:
    blobs: list[tuple[str, bytes]]
    manifest: bytes


def make_image(n: int) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": [f"N={n}"]}}).encode()
    layers = [os.urandom(size) for size in LAYER_SIZES]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _sha(x),
                    "size": len(x),
                }
                for x in layers
            ],
        }
    ).encode()
    return Image([(_sha(b), b) for b in (config, *layers)], manifest)


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> http.client.HTTPResponse:
    conn.request(method, path, body=body, headers={**headers, "Content-Length": str(len(body))})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status} {data[:200]!r}")
    return resp


def push(conn: http.client.HTTPConnection, auth: dict[str, str], repo: str, tag: str, image: Image) -> None:
    for digest, data in image.blobs:
        location = _call(conn, "POST", f"/v2/{repo}/blobs/uploads/", auth).headers["Location"]
        sep = "&" if "?" in location else "?"
        _call(conn, "PUT", f"{location}{sep}digest={digest}", auth, data)
    headers = {**auth, "Content-Type": MANIFEST}
    _call(conn, "PUT", f"/v2/{repo}/manifests/{tag}", headers, image.manifest)


def token(registry: RegistryProcess, repos: list[str]) -> dict[str, str]:
    """One bearer token for all of ``repos`` (a login per run, as a client would hold)."""
    import base64

    scopes = "&".join(f"scope=repository:{repo}:pull,push" for repo in repos)
    basic = base64.b64encode(b"bench:benchpw").decode()
    conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
    conn.request(
        "GET", f"/token?service=berth-registry&{scopes}", headers={"Authorization": f"Basic {basic}"}
    )
    value = json.loads(conn.getresponse().read())["token"]
    conn.close()
    return {"Authorization": f"Bearer {value}"}


def run_pushes(
    registry: RegistryProcess, label: str, images: list[Image], pushers: int
) -> tuple[float, list[float]]:
    """Wall seconds for all ``images`` pushed by ``pushers`` threads, and each image's seconds."""
    repos = [f"{NAMESPACE}/{label}-p{k}" for k in range(pushers)]
    auth = token(registry, repos)
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def pusher(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
        try:
            for n in range(k, len(images), pushers):
                started = time.perf_counter()
                push(conn, auth, repos[k], f"t{n}", images[n])
                with lock:
                    latencies.append(time.perf_counter() - started)
        except BaseException as exc:  # reported after the join
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=pusher, args=(k,)) for k in range(pushers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{label}: {errors[0]}")
    return elapsed, latencies


def pending(registry: RegistryProcess) -> int:
    result = registry.cli("webhook", "ls", "--format", "json")
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return sum(int(h["pending"]) for h in json.loads(result.stdout))


def wait_delivered(receivers: Receivers, expected: int, timeout: float) -> float:
    """Seconds until every receiver got ``expected`` events (bounded by ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if min(receivers.delivered()) >= expected:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--images", type=int, default=100, help="images pushed per run")
    parser.add_argument("--pushers", type=int, default=4, help="concurrent pushing clients")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (alternating)")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--serve-receivers", help=argparse.SUPPRESS)
    parser.add_argument("--control", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receivers:
        serve_receivers([int(p) for p in args.serve_receivers.split(",")], args.control)
        return

    workloads = [
        [make_image(r * args.images + n) for n in range(args.images)] for r in range(2 * args.runs + 2)
    ]
    times: dict[str, list[float]] = {"none": [], "hooks": []}
    latencies: dict[str, list[float]] = {"none": [], "hooks": []}
    pending_after: list[int] = []
    drains: list[float] = []
    with tempfile.TemporaryDirectory(prefix="berth-bench-webhooks-") as tmp_name:
        tmp = Path(tmp_name)
        config = tmp / "registry.yml"
        config.write_text(CONFIG_YAML)
        started: list[RegistryProcess] = []
        receivers = start_receivers()
        try:
            users = {"bench": "benchpw"}
            plain = start_berth_registry(tmp / "none", users=users, config=config, log_level="warning")
            started.append(plain)
            hooked = start_berth_registry(tmp / "hooks", users=users, config=config, log_level="warning")
            started.append(hooked)
            for port in receivers.ports:
                url = f"http://127.0.0.1:{port}/hook"
                added = hooked.cli("webhook", "add", NAMESPACE, url, "--secret", "bench-secret")
                if added.returncode != 0:
                    raise SystemExit(added.stderr)
            # Warm-up (imports, first writes), untimed; its events count as delivered below.
            run_pushes(plain, "warm", workloads[-2][:8], args.pushers)
            run_pushes(hooked, "warm", workloads[-1][:8], args.pushers)
            pushed = 8
            wait_delivered(receivers, pushed, args.drain_timeout)
            for run in range(args.runs):
                for kind, registry in (("none", plain), ("hooks", hooked)):
                    images = workloads[2 * run + (kind == "hooks")]
                    elapsed, lat = run_pushes(registry, f"run{run}", images, args.pushers)
                    times[kind].append(elapsed)
                    latencies[kind].extend(lat)
                    print(f"run {run + 1} {kind:<5}: {elapsed:.2f} s", flush=True)
                pushed += args.images
                pending_after.append(pending(hooked))
                drains.append(wait_delivered(receivers, pushed, args.drain_timeout))
            stats = receivers.stats()
            left = pending(hooked)
        finally:
            for registry in started:
                registry.stop()
            receivers.stop()

    n = args.images
    print(
        f"\n{n} images (config + 3 layers of 2/8/32 KiB + manifest) by {args.pushers} pushers; {args.runs} runs each"
    )
    print(
        f"{'push workload':<34} {'best s':>7} {'median s':>9} {'img/s':>7} {'p50 ms':>7} {'p95 ms':>7}  runs"
    )
    for kind, label in (("none", "no webhooks (baseline)"), ("hooks", "5 slow webhooks")):
        ordered = sorted(latencies[kind])
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        print(
            f"{label:<34} {min(times[kind]):>7.2f} {statistics.median(times[kind]):>9.2f} "
            f"{n / statistics.median(times[kind]):>7.0f} {statistics.median(ordered) * 1000:>7.1f} "
            f"{p95 * 1000:>7.1f}  " + " ".join(f"{t:.2f}" for t in times[kind])
        )
    best = min(times["hooks"]) / min(times["none"])
    median = statistics.median(times["hooks"]) / statistics.median(times["none"])
    print(f"{'ratio 5 hooks / none':<34} {best:>7.3f} {median:>9.3f}")
    verdict = "met" if median <= TARGET else "NOT met"
    print(f"\ntarget ≤ {TARGET} (within 5%): median ratio {median:.3f}, best ratio {best:.3f}: {verdict}")
    print(
        f"\nqueued when each 5-hook run ended: {', '.join(map(str, pending_after))} deliveries "
        f"(of {5 * n} per run); drained in {', '.join(f'{d:.0f}' for d in drains)} s; pending at the end: {left}"
    )
    print(f"{'receiver':<10} {'mode':<6} {'requests':>9} {'delivered':>10} {'expected':>9}")
    for port, s in stats.items():
        print(f"{port:<10} {s['mode']!s:<6} {s['requests']!s:>9} {s['delivered']!s:>10} {pushed:>9}")


if __name__ == "__main__":
    main()
