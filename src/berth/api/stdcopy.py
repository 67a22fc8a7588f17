"""Docker's multiplexed stream format ("stdcopy") used by attach, logs and exec without a TTY.

Each frame is an 8-byte header ``[stream, 0, 0, 0, size(uint32 big-endian)]`` then ``size`` bytes.
Stream 0 is stdin, 1 stdout, 2 stderr, 3 a system error (the payload is an error message).

    >>> encode_frame(STDOUT, b"hi\\n")
    b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x03hi\\n'
    >>> d = FrameDecoder(); d.feed(b"\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x02e"); d.feed(b"!")
    [(2, b'e!')]
"""

from __future__ import annotations

import struct

STDIN = 0
STDOUT = 1
STDERR = 2
SYSTEMERR = 3

HEADER_SIZE = 8
_HEADER = struct.Struct(">BxxxI")
MAX_FRAME = (1 << 32) - 1


def encode_frame(stream: int, data: bytes) -> bytes:
    """One frame carrying ``data`` on ``stream`` (data longer than 4 GiB must be split by the caller)."""
    if stream not in (STDIN, STDOUT, STDERR, SYSTEMERR):
        raise ValueError(f"invalid stdcopy stream {stream}")
    if len(data) > MAX_FRAME:
        raise ValueError("stdcopy frame too large")
    return _HEADER.pack(stream, len(data)) + data


class StdcopyError(ValueError):
    """The byte stream is not valid stdcopy framing (unknown stream id). The sender is at fault."""


class FrameDecoder:
    """Incremental decoder: ``feed`` bytes as they arrive, get back the complete frames.

    Frames split across reads are reassembled; ``pending`` tells how many bytes wait for the rest of a
    frame (non-zero at end of stream means the stream was truncated).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= HEADER_SIZE:
            stream, size = _HEADER.unpack_from(buf, pos)
            if stream > SYSTEMERR:
                raise StdcopyError(f"unrecognized input header: {stream}")
            end = pos + HEADER_SIZE + size
            if len(buf) < end:
                break
            frames.append((stream, bytes(buf[pos + HEADER_SIZE : end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames


def decode_all(data: bytes) -> list[tuple[int, bytes]]:
    """All frames of a complete buffer; StdcopyError if it ends in the middle of a frame."""
    decoder = FrameDecoder()
    frames = decoder.feed(data)
    if decoder.pending:
        raise StdcopyError("truncated stdcopy stream")
    return frames
