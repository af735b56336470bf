"""The `pbbp2.Frame` of Feishu's long connection (the official SDK's `lark_oapi/ws/pb/pbbp2.proto`),
hand-encoded: protobuf wire format, fields

    1 SeqID uint64   2 LogID uint64   3 service int32   4 method int32 (0 CONTROL, 1 DATA)
    5 headers repeated {1 key string, 2 value string}
    6 payload_encoding string   7 payload_type string   8 payload bytes   9 LogIDNew string

`decode` raises `FrameError` for anything that is not such a frame (truncated, wrong wire types,
missing required fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTROL, DATA = 0, 1


class FrameError(ValueError):
    """Bytes that are not a pbbp2 Frame."""


@dataclass
class Frame:
    service: int
    method: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: bytes = b""
    seq_id: int = 0
    log_id: int = 0

    def header(self, key: str) -> str | None:
        return next((v for k, v in self.headers if k == key), None)

    def with_headers(self, **extra: str) -> Frame:
        return Frame(self.service, self.method, [*self.headers, *extra.items()], self.payload, self.seq_id,
                     self.log_id)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32s travel as 10-byte two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def encode(frame: Frame) -> bytes:
    parts = [_field(1, frame.seq_id), _field(2, frame.log_id), _field(3, frame.service), _field(4, frame.method)]
    for key, value in frame.headers:
        parts.append(_field(5, _field(1, key.encode()) + _field(2, value.encode())))
    parts.append(_field(8, frame.payload))
    return b"".join(parts)


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    found: list[tuple[int, int | bytes]] = []
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            if i >= len(data) or shift > 63:
                raise FrameError("truncated varint")
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while i < len(data):
        tag = varint()
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            found.append((number, varint()))
        elif wire == 2:
            size = varint()
            if i + size > len(data):
                raise FrameError("truncated field")
            found.append((number, data[i:i + size]))
            i += size
        else:
            raise FrameError(f"unsupported wire type {wire}")
    return found


def decode(data: bytes) -> Frame:
    seen: dict[int, int | bytes] = {}
    headers: list[tuple[str, str]] = []
    for number, value in _fields(data):
        if number == 5:
            if not isinstance(value, bytes):
                raise FrameError("header is not a message")
            pair = dict(_fields(value))
            key, val = pair.get(1), pair.get(2)
            if not (isinstance(key, bytes) and isinstance(val, bytes)):
                raise FrameError("header without key and value")
            try:
                headers.append((key.decode(), val.decode()))
            except UnicodeDecodeError as exc:
                raise FrameError("header is not UTF-8") from exc
        else:
            seen[number] = value
    ints = {n: seen.get(n) for n in (1, 2, 3, 4)}
    if not all(isinstance(v, int) for v in ints.values()):
        raise FrameError("missing SeqID, LogID, service or method")
    payload = seen.get(8, b"")
    if not isinstance(payload, bytes):
        raise FrameError("payload is not bytes")
    service, method = (_int32(int(ints[3] or 0)), _int32(int(ints[4] or 0)))
    return Frame(service, method, headers, payload, int(ints[1] or 0), int(ints[2] or 0))


def _int32(n: int) -> int:
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n
