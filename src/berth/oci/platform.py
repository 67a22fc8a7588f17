"""OCI platforms (``os/arch[/variant]``): parsing the API's ``platform`` query and matching an image."""

from __future__ import annotations

from dataclasses import dataclass

from berth.errors import InvalidArgument

# containerd's platforms.Normalize: the spellings people and uname use → OCI's
_ARCH = {"x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "aarch64": ("arm64", ""), "armhf": ("arm", "v7"),
         "armel": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", "")}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, os: str, architecture: str, variant: str = "") -> bool:
        """An image's platform satisfies this one (a missing variant matches any)."""
        wanted = normalize(os or "linux", architecture, variant)
        return (wanted.os, wanted.architecture) == (self.os, self.architecture) and (
            not self.variant or not wanted.variant or wanted.variant == self.variant
        )


def normalize(os: str, architecture: str, variant: str = "") -> Platform:
    arch, default_variant = _ARCH.get(architecture.lower(), (architecture.lower(), ""))
    variant = variant.lower() or default_variant
    if arch == "arm64" and variant == "v8":
        variant = ""  # containerd: arm64's only variant is the default
    return Platform(os.lower(), arch, variant)


def parse(text: str) -> Platform:
    """``linux/arm64``, ``linux/arm/v7`` → a Platform; InvalidArgument as Docker's for anything else."""
    parts = text.split("/")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
    return normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def host() -> Platform:
    """This machine's platform (what Berth runs)."""
    import os as _os

    return normalize("linux", _os.uname().machine)
