"""The inline AI analysis as an MRD streaming server (Siemens OpenRecon / python-ismrmrd-server protocol).

``python -m inline_ai_gadgets.openrecon --port 9002`` listens like an ``ismrmrd-server``: the client
(the scanner's OpenRecon host or ``client.py``) connects and sends a config message (MRD 1: a
1024-byte name, or MRD 2: text), the MRD XML header (3), optionally a TEXT message (5) holding the
OpenRecon UI parameters as JSON (``{"parameters": {"model": "lax_cine", "sendoriginal": true}}``),
then images (1022) and CLOSE (4). The server sends back the originals (unless
``sendoriginal`` is false), the AI series and the report, then CLOSE.

Parameter names are ``AnalysisSettings`` fields (see ``config/defaults.md``); ``config`` /
``customconfig`` (module selection in ismrmrd-server) are ignored.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable

import ismrmrd
from gadgetron.types.image_array import ImageArray

from . import wire
from .gadget_config import _FALSE, ConfigError, settings_from_properties
from .landmark_gadget import _check_model
from .serve import GadgetServer
from .startup import start_host

log = logging.getLogger("inline_ai_gadgets.openrecon")

CONFIG_NAME_BYTES = 1024
IGNORED_PARAMETERS = {"config", "customconfig"}
SEND_ORIGINAL_NAMES = {"sendoriginal", "send_original"}


def read_config(read: Callable[[int], bytes]) -> str:
    """The first message: a config name (MRD 1, fixed 1024 bytes) or config text (MRD 2)."""
    head = read(2)
    if len(head) != 2:
        raise wire.ProtocolError("connection closed before the config message")
    message_id = int.from_bytes(head, "little")
    if message_id == wire.CONFIG_FILENAME:
        return read(CONFIG_NAME_BYTES).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if message_id == wire.CONFIG:
        text, _ = wire.read_payload(message_id, read)
        return str(text)
    raise wire.ProtocolError(f"expected a config message (1 or 2), got message id {message_id}")


def parameters_from_json(text: str) -> tuple[dict[str, str], bool]:
    """(gadget properties, send originals?) from OpenRecon's JSON parameters message."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"parameters message is not JSON: {error}") from error
    parameters = document.get("parameters", {}) if isinstance(document, dict) else {}
    if not isinstance(parameters, dict):
        raise ConfigError("'parameters' in the JSON message must be an object")
    properties: dict[str, str] = {}
    send_original = True
    for name, value in parameters.items():
        text_value = str(value).lower() if isinstance(value, bool) else str(value)
        if name.lower() in SEND_ORIGINAL_NAMES:
            send_original = text_value.lower() not in _FALSE
        elif name not in IGNORED_PARAMETERS:
            properties[name] = text_value
    return properties, send_original


def handle_mrd_connection(sock: socket.socket, base_settings) -> None:
    """Serve one MRD streaming-protocol connection until the client's CLOSE."""
    read = wire.read_exactly_from(sock)
    send_lock = threading.Lock()

    def write(data: bytes) -> None:
        with send_lock:
            sock.sendall(data)

    read_config(read)
    header_message = wire.read_message(read)
    if header_message is None or header_message.message_id == wire.CLOSE:
        write(wire.encode_close())  # e.g. a dependency query: config, then CLOSE
        return
    if header_message.message_id != wire.HEADER:
        raise wire.ProtocolError(f"expected the MRD header (3), got message id {header_message.message_id}")
    header_xml = header_message.item

    first = wire.read_message(read)
    properties: dict[str, str] = {}
    send_original = True
    if first is not None and first.message_id == wire.TEXT:
        try:
            properties, send_original = parameters_from_json(first.item)
        except ConfigError as error:
            log.error("%s -- using the server's settings", error)
        first = wire.read_message(read)

    raw_of: dict[int, tuple[object, bytes]] = {}

    def send(item: object) -> None:
        entry = raw_of.pop(id(item), None)
        if entry is not None and entry[0] is item:
            if send_original:
                write(entry[1])
            return
        write(wire.encode_item(item))

    processor = None
    try:
        settings = settings_from_properties(properties, base=base_settings)
        reason = _check_model(settings)
    except ConfigError as error:
        settings, reason = None, f"invalid parameters: {error}"
    if reason:
        log.error("%s -- passing every image through unchanged", reason)
    else:
        from inline_ai.stream import StreamProcessor

        processor = StreamProcessor(settings, send, log, header=header_xml)

    message = first
    while message is not None and message.message_id != wire.CLOSE:
        item = message.item
        if isinstance(item, (ismrmrd.Image, ImageArray)):
            raw_of[id(item)] = (item, message.raw)
            if processor is None:
                send(item)
            elif isinstance(item, ImageArray):
                processor.on_image_array(item)
            else:
                processor.on_image(item)
            if id(item) in raw_of:  # never lose an original
                send(item)
        elif isinstance(item, str):
            log.info("text message: %s", item[:200])
        message = wire.read_message(read)
    if processor is not None:
        processor.close()
    write(wire.encode_close())


class MrdServer(GadgetServer):
    """``GadgetServer`` speaking the MRD streaming protocol instead of Gadgetron's external one."""

    def handle_connection(self, sock: socket.socket) -> None:
        try:
            handle_mrd_connection(sock, self.base_settings)
        finally:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inline_ai_gadgets.openrecon", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9002)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--model", help="model name or path (default: auto)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--max-connections", type=int)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    start = start_host("openrecon", "openrecon", args.assignments, model=args.model)
    if start.exit_code:
        return start.exit_code
    server = MrdServer(args.host, args.port, start.settings)
    print(f"listening on {args.host}:{server.port}", flush=True)
    try:
        server.serve(args.max_connections)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
