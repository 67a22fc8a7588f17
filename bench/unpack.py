"""Layer unpack throughput: Berth's safe ``apply_layer`` (and a whole ``docker import``-style
``ImageService.import_image``) vs GNU ``tar -x`` of the same file, for tar, tar+gzip and tar+zstd.

    .venv/bin/python bench/unpack.py [--size-mb 200] [--runs 5]

Prints MB/s of *uncompressed* layer bytes, median and best of the runs (this VM's disk is bimodal:
the same extraction takes 0.2 s or 4 s depending on background writeback, so look at both).
Needs root (ownership, overlay whiteout form). The layer mixes big files and many small ones and
compresses about 2:1.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import random
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zstandard

from berth.engine.events import EventBus
from berth.engine.images import ImageService
from berth.store.unpack import Whiteouts, apply_layer


def make_layer(path: Path, size_mb: int) -> int:
    """A tar of about ``size_mb`` MB: half in 2.5 MB files, half in 8 KB files (a rootfs-like mix)."""
    rng = random.Random(42)
    words = [
        bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(5000)
    ]

    def content(n: int) -> bytes:  # half noise, half text: compresses about 2:1 like binaries
        text = b" ".join(rng.choice(words) for _ in range(n // 10 + 1))
        return (rng.randbytes(n // 2) + text)[:n]

    half = size_mb * (1 << 20) // 2
    big = [(f"usr/lib/big{i}.so", 5 << 19) for i in range(half // (5 << 19))]
    small = [(f"usr/share/d{i // 200}/f{i}", 8192) for i in range(half // 8192)]
    dirs = sorted({"usr", "usr/lib", "usr/share"} | {name.rsplit("/", 1)[0] for name, _ in small})
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, size in big + small:
            info = tarfile.TarInfo(name)
            info.size = size
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(content(size)))
    return path.stat().st_size


def timed(
    runs: list[Callable[[Path], None]], rounds: int, fresh: Callable[[], Path]
) -> list[tuple[float, float]]:
    """(median, best) seconds of each of ``runs``, interleaved round by round so drift hits all alike.

    Every run gets a fresh, empty directory and nothing is deleted until the end: on this kind of VM a
    large ``rm -rf`` (ext4 with ``discard``) slows whatever runs next by several times.
    """
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for i, run in enumerate(runs):
            target = fresh()
            subprocess.run(["sync"], check=False)
            start = time.perf_counter()
            run(target)
            samples[i].append(time.perf_counter() - start)
    return [(statistics.median(s), min(s)) for s in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    try:
        plain = work / "layer.tar"
        tar_bytes = make_layer(plain, args.size_mb)
        data = plain.read_bytes()
        (work / "layer.tar.gz").write_bytes(gzip.compress(data, compresslevel=6))
        (work / "layer.tar.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(data))
        del data
        counter = iter(range(1_000_000))

        def fresh() -> Path:
            target = work / f"out{next(counter)}"
            target.mkdir()
            return target

        def berth(file: Path) -> Callable[[Path], None]:
            def run(target: Path) -> None:
                with open(file, "rb") as f:
                    apply_layer(target, f, whiteouts=Whiteouts.OVERLAY)

            return run

        def gnu(file: Path, flag: str) -> Callable[[Path], None]:
            def run(target: Path) -> None:
                cmd = ["tar", "-x", "-f", str(file), "-C", str(target), "--numeric-owner", "-p"]
                subprocess.run(cmd + ([flag] if flag else []), check=True)

            return run

        def image_import(file: Path) -> Callable[[Path], None]:
            def run(target: Path) -> None:
                svc = ImageService(target / "image", events=EventBus(), in_use=dict, snapshotter="overlay")
                with open(file, "rb") as f:
                    svc.import_image(f, repo="bench")
                svc.close()

            return run

        rows = []
        mb = tar_bytes / (1 << 20)
        for label, suffix, flag in (
            ("tar", "", ""),
            ("tar+gzip", ".gz", "-z"),
            ("tar+zstd", ".zst", "--zstd"),
        ):
            file = work / f"layer.tar{suffix}"
            (b, b_best), (i, i_best), (g, g_best) = timed(
                [berth(file), image_import(file), gnu(file, flag)], args.runs, fresh
            )
            rows.append(
                (label, file.stat().st_size / (1 << 20), mb / b, mb / b_best, mb / i, mb / g, mb / g_best)
            )
        print(
            f"layer: {mb:.0f} MB uncompressed, {args.runs} interleaved runs, MB/s of uncompressed tar bytes"
        )
        header = ("format", "file MB", "apply med", "apply best", "import med", "tar -x med", "tar -x best")
        print("{:<9} {:>8} {:>10} {:>11} {:>11} {:>11} {:>12}".format(*header))
        for label, size, b, bb, i, g, gb in rows:
            print(f"{label:<9} {size:>8.0f} {b:>10.0f} {bb:>11.0f} {i:>11.0f} {g:>11.0f} {gb:>12.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        raise SystemExit("bench/unpack.py needs root (ownership and overlay whiteouts)")
    main()
