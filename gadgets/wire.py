"""The Gadgetron 4 wire protocol, both sides: message framing, byte-exact forwarding, a stream client.

A message is a little-endian ``uint16`` identifier followed by its payload. CONFIG (2) and HEADER (3)
carry a ``uint32`` length and text; CLOSE (4) has no payload; an MRD image (1022) is the
``ismrmrd.Image`` serialization; an image array (1024) is Gadgetron's ``IsmrmrdImageArray`` (read
and written with the ``gadgetron`` package's own readers and writers).

Readers here record the exact bytes of every message they decode, so an original can be forwarded
byte for byte no matter how ``ismrmrd`` would re-serialize it.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ismrmrd
import numpy as np
from gadgetron.external import constants
from gadgetron.types.image_array import ImageArray, read_image_array, write_image_array

CONFIG_FILENAME = constants.GADGET_MESSAGE_FILENAME
CONFIG = constants.GADGET_MESSAGE_CONFIG
HEADER = constants.GADGET_MESSAGE_HEADER
CLOSE = constants.GADGET_MESSAGE_CLOSE
TEXT = constants.GADGET_MESSAGE_TEXT
ERROR = constants.GADGET_MESSAGE_ERROR
IMAGE = constants.GADGET_MESSAGE_ISMRMRD_IMAGE
IMAGE_ARRAY = constants.GADGET_MESSAGE_IMAGE_ARRAY
ACQUISITION = constants.GADGET_MESSAGE_ISMRMRD_ACQUISITION
WAVEFORM = constants.GADGET_MESSAGE_ISMRMRD_WAVEFORM

_MESSAGE_ID = struct.Struct("<H")
_UINT32 = struct.Struct("<I")


class ProtocolError(RuntimeError):
    """The peer sent something that is not a valid Gadgetron message."""


class RecordingSource:
    """Wraps a ``read(n)`` source and keeps a copy of every byte read through it."""

    def __init__(self, source: Callable[[int], bytes]) -> None:
        self._source = source
        self._buffer = bytearray()

    def read(self, nbytes: int) -> bytes:
        data = self._source(nbytes)
        if len(data) != nbytes:
            raise ProtocolError(f"connection closed: wanted {nbytes} bytes, got {len(data)}")
        self._buffer += data
        return data

    @property
    def recorded(self) -> bytes:
        return bytes(self._buffer)


def read_exactly_from(sock: socket.socket) -> Callable[[int], bytes]:
    """A ``read(n)`` function that returns exactly n bytes from a socket (or fewer at end of stream)."""

    def read(nbytes: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < nbytes:
            chunk = sock.recv(nbytes - len(chunks))
            if not chunk:
                break
            chunks += chunk
        return bytes(chunks)

    return read


def as_sendable_image_array(array: ImageArray) -> ImageArray:
    """The same array with ``data`` as complex64 (gadgetron 1.4.1's writer cannot convert on numpy 2)."""
    data = np.asarray(array.data)
    if data.dtype == np.complex64:
        return array
    return ImageArray(data=data.astype(np.complex64), headers=array.headers, meta=array.meta,
                      waveform=array.waveform, acq_headers=array.acq_headers)


def write_image_array_safely(destination, array: ImageArray) -> None:
    """Gadgetron's image array writer, fed data that needs no dtype conversion."""
    write_image_array(destination, as_sendable_image_array(array))


# ---------------------------------------------------------------------------------------------
# Encoding whole messages (id + payload) into bytes.


def encode_text_message(message_id: int, text: str | bytes) -> bytes:
    """CONFIG / HEADER / TEXT style message: id, uint32 length, bytes."""
    payload = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return _MESSAGE_ID.pack(message_id) + _UINT32.pack(len(payload)) + payload


def encode_close() -> bytes:
    return _MESSAGE_ID.pack(CLOSE)


def encode_image(image: ismrmrd.Image) -> bytes:
    """An MRD image message (1022) exactly as Gadgetron writes it."""
    buffer = io.BytesIO()
    buffer.write(_MESSAGE_ID.pack(IMAGE))
    image.serialize_into(buffer.write)
    return buffer.getvalue()


def encode_image_array(array: ImageArray) -> bytes:
    """An image array message (1024)."""
    buffer = io.BytesIO()
    write_image_array_safely(buffer, array)
    return buffer.getvalue()


def encode_item(item: object) -> bytes:
    """Encode an image or image array as a complete message."""
    if isinstance(item, ismrmrd.Image):
        return encode_image(item)
    if isinstance(item, ImageArray):
        return encode_image_array(item)
    raise TypeError(f"cannot encode {type(item).__name__} as a Gadgetron message")


# ---------------------------------------------------------------------------------------------
# Decoding messages.


@dataclass
class Message:
    """One decoded message and the exact bytes it arrived as (id included)."""

    message_id: int
    item: object  # ismrmrd Image/Acquisition/Waveform, ImageArray, str (CONFIG/HEADER/TEXT/ERROR), None (CLOSE)
    raw: bytes


def _read_text(source: RecordingSource) -> str:
    (length,) = _UINT32.unpack(source.read(_UINT32.size))
    return source.read(length).decode("utf-8", errors="replace").rstrip("\0")


_PAYLOAD_READERS: dict[int, Callable[[RecordingSource], object]] = {
    IMAGE: lambda source: ismrmrd.Image.deserialize_from(source.read),
    IMAGE_ARRAY: read_image_array,
    ACQUISITION: lambda source: ismrmrd.Acquisition.deserialize_from(source.read),
    WAVEFORM: lambda source: ismrmrd.Waveform.deserialize_from(source.read),
    CONFIG: _read_text,
    HEADER: _read_text,
    TEXT: _read_text,
    ERROR: _read_text,
    CLOSE: lambda source: None,
}


def read_payload(message_id: int, read: Callable[[int], bytes]) -> tuple[object, bytes]:
    """Decode the payload of a message whose id was already read; return (item, payload bytes)."""
    reader = _PAYLOAD_READERS.get(message_id)
    if reader is None:
        raise ProtocolError(f"unsupported Gadgetron message id {message_id}")
    source = RecordingSource(read)
    item = reader(source)
    return item, source.recorded


def read_message(read: Callable[[int], bytes]) -> Message | None:
    """Read one message; None when the stream ended cleanly between messages."""
    head = read(_MESSAGE_ID.size)
    if not head:
        return None
    if len(head) != _MESSAGE_ID.size:
        raise ProtocolError("connection closed in the middle of a message id")
    (message_id,) = _MESSAGE_ID.unpack(head)
    item, payload = read_payload(message_id, read)
    return Message(message_id, item, head + payload)


def iter_messages(read: Callable[[int], bytes]) -> Iterator[Message]:
    """Messages until CLOSE (not yielded) or the end of the stream."""
    while True:
        message = read_message(read)
        if message is None or message.message_id == CLOSE:
            return
        yield message


def decode_messages(data: bytes) -> list[Message]:
    """Decode a byte string holding whole messages (handy for tests and files)."""
    stream = io.BytesIO(data)
    return list(iter_messages(stream.read))


# ---------------------------------------------------------------------------------------------
# Client side: what Gadgetron (or a client of a Gadgetron server) sends.


class StreamClient:
    """One Gadgetron-protocol conversation over a connected socket.

    ``send_*`` may run on one thread while ``messages()`` runs on another (the usual pattern:
    a sender thread streams the inputs while the caller collects what comes back).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.process = None  # the gadget's process when we started it (active mode)
        self._send_lock = threading.Lock()
        self._read = read_exactly_from(sock)

    def send_bytes(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def send_config(self, config_xml: str | bytes) -> None:
        self.send_bytes(encode_text_message(CONFIG, config_xml))

    def send_header(self, header_xml: str | bytes) -> None:
        self.send_bytes(encode_text_message(HEADER, header_xml))

    def send_item(self, item: object) -> None:
        self.send_bytes(encode_item(item))

    def send_close(self) -> None:
        self.send_bytes(encode_close())

    def messages(self) -> Iterator[Message]:
        """Everything the peer sends until its CLOSE (or it hangs up)."""
        return iter_messages(self._read)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
