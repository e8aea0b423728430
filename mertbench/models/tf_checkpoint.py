"""A reader of TensorFlow (V2, "tensor bundle") checkpoints that needs no TensorFlow.

A checkpoint ``PREFIX`` is two files:

* ``PREFIX.index``: a LevelDB-format table (SSTable) mapping each variable name to a
  ``BundleEntryProto`` (dtype, shape, shard, byte offset and size in the data file); the empty key
  holds the ``BundleHeaderProto`` (number of shards, endianness).
* ``PREFIX.data-00000-of-00001`` (one file per shard): the raw tensor bytes at those offsets.

Table layout: blocks of prefix-compressed entries (``shared``, ``non_shared``, ``value_length``
varints, the key suffix, the value), a restart array and its length (``uint32`` each), each block
followed by a 5-byte trailer (compression type, CRC); an index block maps the last key of each
data block to its ``BlockHandle`` (offset, size varints); a 48-byte footer holds the metaindex and
index handles and the magic ``0xdb4775248b80fb57``. TensorFlow writes bundle tables uncompressed;
a compressed block is refused. Only numeric tensors are read (strings are not); CRC32C checksums of
the tensor bytes are not verified (mertbench checks the wheel's SHA-256 instead).

Only data is parsed, with bounds checks: nothing in a checkpoint can run code.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mertbench.errors import ModelError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
#: TensorFlow DataType enum values -> numpy dtypes (little-endian)
DTYPES: dict[int, str] = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?",
                          17: "<u2", 19: "<f2", 22: "<u4", 23: "<u8"}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Protocol-buffer wire format: ``(field number, wire type, value)`` for each field of ``buf``."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated length-delimited field")
            value, pos = bytes(buf[pos:pos + n]), pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((num, wire, value))
    return out


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives: its dtype (TensorFlow enum), shape, shard, offset and size in bytes."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def _entry(value: bytes) -> BundleEntry:
    dtype, shape, shard, offset, size, sliced = 0, [], 0, 0, 0, False
    for num, _wire, v in _fields(value):
        if num == 1:
            dtype = int(v)  # type: ignore[arg-type]
        elif num == 2:
            assert isinstance(v, bytes)
            for dnum, _w, dim in _fields(v):
                if dnum == 2:
                    assert isinstance(dim, bytes)
                    size_d = next((int(x) for n, _, x in _fields(dim) if n == 1), 0)  # type: ignore[arg-type]
                    shape.append(size_d)
        elif num == 3:
            shard = int(v)  # type: ignore[arg-type]
        elif num == 4:
            offset = int(v)  # type: ignore[arg-type]
        elif num == 5:
            size = int(v)  # type: ignore[arg-type]
        elif num == 7:
            sliced = True
    if sliced:
        raise ValueError("partitioned (sliced) variables are not supported")
    return BundleEntry(dtype, tuple(shape), shard, offset, size)


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` entries of the table block at ``offset`` (``size`` bytes, plus the trailer)."""
    if offset < 0 or offset + size + 5 > len(data):
        raise ValueError(f"block at {offset} (+{size}) lies outside the file")
    if data[offset + size] != 0:
        raise ValueError(f"compressed table block (type {data[offset + size]}); only uncompressed bundles are read")
    block = data[offset:offset + size]
    if size < 4:
        raise ValueError("block too short")
    num_restarts = struct.unpack_from("<I", block, size - 4)[0]
    end = size - 4 - 4 * num_restarts
    if end < 0:
        raise ValueError("bad restart array")
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        if shared > len(key) or pos + non_shared + vlen > end:
            raise ValueError("corrupt block entry")
        key = key[:shared] + bytes(block[pos:pos + non_shared])
        pos += non_shared
        entries.append((key, bytes(block[pos:pos + vlen])))
        pos += vlen
    return entries


def table_items(index: bytes) -> list[tuple[bytes, bytes]]:
    """All ``(key, value)`` entries of a LevelDB-format table, in file order."""
    if len(index) < FOOTER_SIZE:
        raise ValueError("file too short for a table footer")
    footer = index[-FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise ValueError("not a TensorFlow checkpoint index (bad table magic)")
    _meta_off, pos = _varint(footer, 0)
    _meta_size, pos = _varint(footer, pos)
    idx_off, pos = _varint(footer, pos)
    idx_size, pos = _varint(footer, pos)
    items: list[tuple[bytes, bytes]] = []
    for _last_key, handle in _block(index, idx_off, idx_size):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        items.extend(_block(index, off, size))
    return items


def read_index(index: bytes) -> tuple[int, dict[str, BundleEntry]]:
    """Parse a ``.index`` file: ``(number of data shards, variable name -> BundleEntry)``."""
    entries: dict[str, BundleEntry] = {}
    num_shards = 1
    for key, value in table_items(index):
        if key == b"":  # BundleHeaderProto: num_shards = 1, endianness = 2 (0 little, 1 big)
            header = {n: v for n, _, v in _fields(value)}
            if header.get(2, 0) != 0:
                raise ValueError("big-endian checkpoints are not supported")
            num_shards = int(header.get(1, 1))  # type: ignore[arg-type]
            continue
        entries[key.decode("utf-8")] = _entry(value)
    return num_shards, entries


def read_tensors(index: bytes, shards: list[bytes], names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The numeric tensors of a checkpoint from the bytes of its ``.index`` and data shards."""
    _num_shards, entries = read_index(index)
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        if names is not None and name not in names:
            continue
        if e.dtype not in DTYPES:
            continue  # strings, resources, ...: not weights
        dt = np.dtype(DTYPES[e.dtype])
        count = int(np.prod(e.shape)) if e.shape else 1
        if e.shard_id >= len(shards) or count * dt.itemsize != e.size or e.offset + e.size > len(shards[e.shard_id]):
            raise ValueError(f"tensor {name}: {e} does not fit the data file")
        out[name] = np.frombuffer(shards[e.shard_id], dtype=dt, count=count, offset=e.offset).reshape(e.shape).copy()
    return out


def load_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """All numeric tensors of the checkpoint ``prefix`` (``prefix.index``, ``prefix.data-*``)."""
    prefix = str(prefix)
    try:
        index = Path(prefix + ".index").read_bytes()
        num_shards, _ = read_index(index)
        shards = [Path(f"{prefix}.data-{i:05d}-of-{num_shards:05d}").read_bytes() for i in range(num_shards)]
        return read_tensors(index, shards)
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise ModelError(f"{prefix}: cannot read the TensorFlow checkpoint: {exc}") from exc
