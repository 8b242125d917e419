"""A bounds-checked reader for FlatBuffers binaries (the .tflite container).

The wire format, from the FlatBuffers documentation ("FlatBuffers internals"): a file
starts with a uint32 offset to the root table; a table starts with an int32 that, subtracted
from the table's position, locates its vtable; the vtable holds uint16 vtable size, table
size, then one uint16 per field slot (0 = absent, else the field's offset in the table).
Tables, vectors and strings are reached through uint32 offsets relative to where the
offset itself is stored; vectors and strings start with a uint32 element count.  All
little-endian.  Every read here checks its bounds: a hostile file raises `FlatBufferError`
(never an IndexError deep in a loader, never a read past the buffer).
"""
from __future__ import annotations

import struct

import numpy as np


class FlatBufferError(ValueError):
    """The bytes are not a well-formed FlatBuffer where the reader looked."""


class Table:
    """One table in `buf` at byte position `pos`; fields are read by slot number."""

    __slots__ = ("buf", "pos", "_vt", "_vt_len")

    def __init__(self, buf: bytes, pos: int):
        self.buf = buf
        self.pos = pos
        soff = _unpack(buf, "<i", pos)
        vt = pos - soff
        vt_len = _unpack(buf, "<H", vt)
        if vt_len < 4 or vt_len % 2:
            raise FlatBufferError(f"vtable at byte {vt} has a bad size {vt_len}")
        _check(buf, vt, vt_len)
        self._vt, self._vt_len = vt, vt_len

    @classmethod
    def root(cls, buf: bytes) -> "Table":
        return cls(buf, _unpack(buf, "<I", 0))

    def _field(self, slot: int) -> int:
        """The absolute position of field `slot`, or 0 when absent."""
        at = 4 + 2 * slot
        if at + 2 > self._vt_len:
            return 0
        off = _unpack(self.buf, "<H", self._vt + at)
        return self.pos + off if off else 0

    def has(self, slot: int) -> bool:
        return self._field(slot) != 0

    def scalar(self, slot: int, fmt: str, default=0):
        p = self._field(slot)
        return _unpack(self.buf, "<" + fmt, p) if p else default

    def _target(self, slot: int) -> int:
        p = self._field(slot)
        return p + _unpack(self.buf, "<I", p) if p else 0

    def table(self, slot: int) -> "Table | None":
        t = self._target(slot)
        return Table(self.buf, t) if t else None

    def _vector(self, slot: int, item: int) -> tuple[int, int]:
        """(position of the first element, element count) of a vector field."""
        t = self._target(slot)
        if not t:
            return 0, 0
        n = _unpack(self.buf, "<I", t)
        _check(self.buf, t + 4, n * item)
        return t + 4, n

    def length(self, slot: int) -> int:
        """The element count of a vector field (0 when absent), without reading the elements."""
        t = self._target(slot)
        return _unpack(self.buf, "<I", t) if t else 0

    def array(self, slot: int, dtype) -> np.ndarray:
        """A vector of scalars as a read-only numpy array (empty when absent)."""
        dt = np.dtype(dtype).newbyteorder("<")
        start, n = self._vector(slot, dt.itemsize)
        return np.frombuffer(self.buf, dt, n, start) if n else np.zeros(0, dt)

    def bytes(self, slot: int) -> bytes:
        start, n = self._vector(slot, 1)
        return bytes(self.buf[start:start + n])

    def string(self, slot: int) -> str:
        return self.bytes(slot).decode("utf-8", "replace")

    def tables(self, slot: int) -> list["Table"]:
        start, n = self._vector(slot, 4)
        out = []
        for i in range(n):
            p = start + 4 * i
            out.append(Table(self.buf, p + _unpack(self.buf, "<I", p)))
        return out


def _check(buf: bytes, pos: int, size: int) -> None:
    if pos < 0 or size < 0 or pos + size > len(buf):
        raise FlatBufferError(f"a read of {size} bytes at byte {pos} is outside the {len(buf)}-byte file")


def _unpack(buf: bytes, fmt: str, pos: int):
    _check(buf, pos, struct.calcsize(fmt))
    return struct.unpack_from(fmt, buf, pos)[0]
