"""The byte format between the grader and its workers: framed JSON headers and raw tensors.

A stream is a sequence of frames. Each frame is a 4-byte big-endian header
length, a UTF-8 JSON header, and, for a tensor frame, exactly
``numel * itemsize`` raw little-endian bytes. There is no compression and no
pickle, so the decoded size of a stream is its size on the wire, and the
reader checks every length against its budget *before* it reads the bytes:
a hostile worker can at worst send garbage, which ends the stream there.

Frames: ``{"t": "job", "job": {...}}`` (parent to worker, first),
``{"t": "tensor", "key": k, "dtype": d, "shape": [...]}`` + bytes (both ways),
``{"t": "status", "status": {...}}`` (worker to parent; the last one counts)
and ``{"t": "end"}``.
"""

from __future__ import annotations

import json
import os
import struct
import sys

import torch

#: Largest JSON header the reader accepts (a status with every item's messages fits easily).
MAX_HEADER = 1 * 2**20
#: Default budget of a whole stream (headers and tensor bytes together).
MAX_STREAM = 64 * 2**20
#: Largest tensor rank accepted.
MAX_RANK = 8
#: Tensor dtypes that may cross (plain numbers only).
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
    "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}
_NAMES = {v: k for k, v in DTYPES.items()}


# Bound at import, before any submitted code runs: a cell that patches json.dumps or os.write does
# not change how the worker reports (the parent checks the frames anyway).
_dumps, _pack, _oswrite, _len = json.dumps, struct.pack, os.write, len


class WireError(Exception):
    """The stream broke the format or its budget."""


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while _len(view):
        n = _oswrite(fd, view)
        view = view[n:]


def write_frame(fd: int, header: dict, payload: bytes | None = None) -> None:
    """Write one frame (header JSON and optional raw payload) to file descriptor ``fd``."""
    head = _dumps(header).encode("utf-8")
    _write_all(fd, _pack(">I", _len(head)) + head)
    if payload:
        _write_all(fd, payload)


def tensor_bytes(t: torch.Tensor) -> tuple[dict, bytes]:
    """The header and the raw bytes of a plain tensor (CPU, contiguous, little-endian)."""
    t = t.detach().cpu().contiguous()
    if t.dtype not in _NAMES:
        raise TypeError(f"tensors of dtype {t.dtype} cannot be returned (plain number dtypes only)")
    if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
        raise RuntimeError("big-endian hosts are not supported")
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return {"dtype": _NAMES[t.dtype], "shape": list(t.shape)}, raw


def write_tensor(fd: int, key: str, t: torch.Tensor) -> None:
    """Write ``t`` as a tensor frame under ``key``."""
    head, raw = tensor_bytes(t)
    write_frame(fd, {"t": "tensor", "key": key, **head}, raw)


class Reader:
    """Reads frames from a file descriptor within a byte budget, checking lengths before reading."""

    def __init__(self, fd: int, budget: int = MAX_STREAM) -> None:
        self.fd, self.left = fd, budget

    def _read(self, n: int) -> bytes:
        if n > self.left:
            raise WireError(f"the stream is over its {self.left}-byte budget")
        self.left -= n
        chunks, got = [], 0
        while got < n:
            b = os.read(self.fd, min(n - got, 1 << 20))
            if not b:
                raise EOFError
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def frame(self) -> tuple[dict, torch.Tensor | None]:
        """The next frame: ``(header, tensor or None)``; EOFError at a clean end of stream."""
        first = os.read(self.fd, 4) if self.left >= 4 else b"x"
        if not first:
            raise EOFError
        while len(first) < 4:
            more = os.read(self.fd, 4 - len(first))
            if not more:
                raise WireError("the stream ended inside a frame")
            first += more
        self.left -= 4
        (n,) = struct.unpack(">I", first)
        if n > MAX_HEADER:
            raise WireError(f"a frame header of {n} bytes (at most {MAX_HEADER})")
        try:
            header = json.loads(self._read(n).decode("utf-8"))
        except EOFError:
            raise WireError("the stream ended inside a frame") from None
        except ValueError as exc:
            raise WireError(f"a frame header is not JSON ({exc})") from None
        if not isinstance(header, dict) or not isinstance(header.get("t"), str):
            raise WireError("a frame header is not an object with a type")
        if header["t"] != "tensor":
            return header, None
        return header, self._tensor(header)

    def _tensor(self, header: dict) -> torch.Tensor:
        dtype, shape, key = header.get("dtype"), header.get("shape"), header.get("key")
        if not isinstance(key, str) or len(key) > 300:
            raise WireError("a tensor frame without a proper key")
        if dtype not in DTYPES:
            raise WireError(f"a tensor of dtype {str(dtype)[:40]!r} (plain number dtypes only)")
        if (not isinstance(shape, list) or len(shape) > MAX_RANK
                or not all(type(s) is int and 0 <= s < 2**40 for s in shape)):
            raise WireError("a tensor frame with a malformed shape")
        numel = 1
        for s in shape:
            numel *= s
        itemsize = torch.empty((), dtype=DTYPES[dtype]).element_size()
        nbytes = numel * itemsize
        if nbytes > self.left:  # checked before a single payload byte is read
            raise WireError(f"a tensor of {nbytes} bytes is over the stream's remaining budget")
        try:
            raw = self._read(nbytes)
        except EOFError:
            raise WireError("the stream ended inside a tensor") from None
        if not nbytes:
            return torch.empty(shape, dtype=DTYPES[dtype])
        return torch.frombuffer(bytearray(raw), dtype=DTYPES[dtype]).reshape(shape).clone()


#: The worker's own harness: its drivers, the trusted scenarios (lab 07's apart from the lab's
#: exercise module) and the wire format. None of them holds a reference implementation (the
#: scenarios use fixtures), so the sandbox strips and the worker stubs protected names in them
#: like anywhere else.
TRUSTED_MODULES = ("genlab.exercises.scenarios", "genlab.exercises._scenarios07", "genlab.exercises.drivers",
                   "genlab.exercises._core", "genlab.grading.worker", "genlab.grading.wire")
