"""The Gadgetron 4 external Python gadget: landmarks, LV length and shortening on image series.

Active mode: a chain node ``<external><execute name="inline_ai_gadgets.landmark_gadget"
target="landmark_gadget" type="python"/><configuration>...</configuration></external>`` makes
Gadgetron run ``python -m gadgetron PORT inline_ai_gadgets.landmark_gadget landmark_gadget``;
the ``gadgetron`` package connects back, reads the configuration and header and calls
:func:`landmark_gadget` with the connection. Connect mode (``inline-ai serve``) calls the same
function for every accepted connection.

Every original image / image array is forwarded at once, byte for byte as it arrived; the AI
series and the report follow when a series is complete. A bad configuration or a model that
cannot be loaded is logged at configuration time and the gadget then passes everything through.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd
from gadgetron.external import Connection
from gadgetron.types.image_array import ImageArray, read_image_array

from . import wire
from .gadget_config import ConfigError, settings_from_config

log = logging.getLogger("inline_ai_gadgets.landmark_gadget")
# Gadgetron starts external modules at DEBUG level; keep third-party chatter out of the chain's log.
for _noisy in ("matplotlib", "PIL", "h5py"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

INSTALLED_MODELS_DIR = Path(__file__).resolve().parent.parent / "inline_ai_models"


def use_installed_models() -> None:
    """Point ``INLINE_AI_MODELS`` at the models installed beside the gadgets (cmake layout), if unset."""
    if not os.environ.get("INLINE_AI_MODELS") and INSTALLED_MODELS_DIR.is_dir():
        os.environ["INLINE_AI_MODELS"] = str(INSTALLED_MODELS_DIR)


@dataclass
class TransportTimings:
    """Seconds spent decoding inputs and encoding outputs on one connection."""

    decode_s: float = 0.0
    encode_s: float = 0.0
    messages_in: int = 0
    messages_out: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class ExactForwarder:
    """Remembers the bytes each original arrived as, so sending it back writes those same bytes."""

    def __init__(self, connection: Connection, timings: TransportTimings) -> None:
        self._originals: dict[int, tuple[object, bytes]] = {}
        self._lock = threading.Lock()
        self._timings = timings
        connection.add_reader(wire.IMAGE, self._read_recorded, wire.IMAGE)
        connection.add_reader(wire.IMAGE_ARRAY, self._read_recorded, wire.IMAGE_ARRAY)
        # Writers are tried in order. gadgetron 1.4.1's add_writer wraps writers with the wrong
        # arity, so they go into the list directly: exact bytes for originals first, then the
        # numpy-2-safe image array writer, then the package's defaults.
        connection.writers[:0] = [
            (self.is_original, self._write_original),
            (lambda item: isinstance(item, ImageArray), wire.write_image_array_safely),
        ]

    def _read_recorded(self, source, message_id: int) -> object:
        started = time.perf_counter()
        recorder = wire.RecordingSource(source.read)
        if message_id == wire.IMAGE:
            item = ismrmrd.Image.deserialize_from(recorder.read)
        else:
            item = read_image_array(recorder)
        raw = wire._MESSAGE_ID.pack(message_id) + recorder.recorded
        with self._lock:
            self._originals[id(item)] = (item, raw)
        self._timings.decode_s += time.perf_counter() - started
        self._timings.messages_in += 1
        return item

    def is_original(self, item: object) -> bool:
        with self._lock:
            entry = self._originals.get(id(item))
        return entry is not None and entry[0] is item

    def _write_original(self, destination, item: object) -> None:
        with self._lock:
            _, raw = self._originals.pop(id(item))
        destination.write(raw)

    def pending(self) -> list[object]:
        """Originals read but not yet sent back."""
        with self._lock:
            return [item for item, _ in self._originals.values()]


def guard_against_hang_up(connection: Connection) -> None:
    """Make reads raise ``ConnectionError`` when the peer hangs up mid-stream.

    gadgetron 1.4.1's socket wrapper retries ``recv`` until it has all bytes, so a closed peer
    would make it spin forever at full CPU.
    """
    sock = connection.socket.socket

    def read(nbytes: int) -> bytes:
        data = bytearray()
        while len(data) < nbytes:
            chunk = sock.recv(nbytes - len(data))
            if not chunk:
                raise ConnectionError(f"peer closed the connection ({len(data)} of {nbytes} bytes read)")
            data += chunk
        return bytes(data)

    connection.socket.read = read


def _check_model(settings) -> str | None:
    """Load the configured model once (cached per process); the reason when it cannot be used."""
    if not getattr(settings, "enabled", True):
        return None
    model = str(getattr(settings, "model", "auto"))
    if model == "auto":
        return None  # resolved per series; the analyser reports a missing model per series
    try:
        from inline_ai.runtime import load_model

        load_model(model, device=getattr(settings, "device", "cpu"))
    except Exception as error:  # ModelError, or anything a corrupt file makes onnxruntime raise
        return f"model {model!r} cannot be used: {error}"
    return None


def configure(config_xml: bytes | str | None, base=None):
    """``(settings, reason)``: settings from the configuration XML (over ``base``), or None and why not."""
    try:
        settings = settings_from_config(config_xml, base=base)
    except ConfigError as error:
        return None, f"invalid gadget configuration: {error}"
    except ImportError as error:
        return None, f"inline_ai is not importable: {error}"
    reason = _check_model(settings)
    if reason:
        return None, reason
    return settings, None


def stage_timings(processor) -> dict[str, float]:
    """Seconds per analysis stage summed over the series the processor analysed (empty if unknown)."""
    totals: dict[str, float] = {}
    for result in getattr(processor, "results", None) or []:
        for stage, seconds in (getattr(result, "timings", None) or {}).items():
            totals[stage] = totals.get(stage, 0.0) + float(seconds)
    return totals


def run_gadget(connection: Connection, *, base_settings=None, timings: TransportTimings | None = None,
               stats_sink: Callable[[dict], None] | None = None) -> None:
    """Serve one connection until the peer closes it; its configuration XML applies over ``base_settings``.

    ``stats_sink`` receives a dict of timings and counts when the connection is done (for the bench).
    """
    started = time.perf_counter()
    use_installed_models()
    log.info("inline AI gadget %s (models: %s)", __file__, os.environ.get("INLINE_AI_MODELS", "default"))
    timings = timings or TransportTimings()
    guard_against_hang_up(connection)
    forwarder = ExactForwarder(connection, timings)
    send_lock = threading.Lock()

    def send(item: object) -> None:
        encode_started = time.perf_counter()
        with send_lock:
            connection.send(item)
        timings.encode_s += time.perf_counter() - encode_started
        timings.messages_out += 1

    settings, reason = configure(connection.raw_bytes.config, base_settings)
    if reason:
        log.error("%s -- passing every image through unchanged", reason)

    processor = None
    if settings is not None:
        from inline_ai.stream import StreamProcessor

        processor = StreamProcessor(settings, send, log, header=connection.header)
        log.info("inline AI gadget configured: %s", settings)

    connection_lost = False
    try:
        for item in connection:
            if processor is None or not isinstance(item, (ismrmrd.Image, ImageArray)):
                send(item)
                continue
            try:
                if isinstance(item, ImageArray):
                    processor.on_image_array(item)
                else:
                    processor.on_image(item)
            except Exception:
                log.exception("analysis failed; the original is passed through")
            if forwarder.is_original(item):  # the processor did not forward it: never lose an image
                send(item)
    except ConnectionError as error:  # the peer is gone: nothing can be sent any more
        log.error("connection lost: %s", error)
        connection_lost = True
        raise
    finally:
        if not connection_lost:
            if processor is not None:
                try:
                    processor.close()
                except Exception:
                    log.exception("analysis at close failed")
            for item in forwarder.pending():
                send(item)
    total_s = time.perf_counter() - started
    log.info("inline AI gadget done in %.2f s (decode %.3f s, encode %.3f s, %d in, %d out)",
             total_s, timings.decode_s, timings.encode_s, timings.messages_in, timings.messages_out)
    if stats_sink is not None:
        stats_sink({"total_s": total_s, "decode_s": timings.decode_s, "encode_s": timings.encode_s,
                    "messages_in": timings.messages_in, "messages_out": timings.messages_out,
                    "stages": stage_timings(processor) if processor is not None else {},
                    "configuration_error": reason})


def landmark_gadget(connection: Connection) -> None:
    """The target Gadgetron calls (``<execute ... target="landmark_gadget"/>``)."""
    run_gadget(connection)
