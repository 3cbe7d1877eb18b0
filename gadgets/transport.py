"""Talking to the gadget the way Gadgetron does: start it (active mode) or connect to it, stream, collect.

Active mode reproduces Gadgetron's handshake exactly: listen on a loopback port, run
``python -m gadgetron PORT MODULE TARGET`` as a child process, accept its connection, send
CONFIG (the external node's ``<configuration>`` element), HEADER, the data messages and CLOSE,
and read what comes back until the gadget's CLOSE.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .wire import Message, StreamClient

GADGET_MODULE = "inline_ai_gadgets.landmark_gadget"
GADGET_TARGET = "landmark_gadget"


class GadgetStartError(RuntimeError):
    """The gadget process did not connect back."""


@contextmanager
def active_gadget(module: str = GADGET_MODULE, target: str = GADGET_TARGET, *, log_path: Path | None = None,
                  env: dict[str, str] | None = None, timeout_s: float = 60.0) -> Iterator[StreamClient]:
    """Run the gadget as Gadgetron does and yield a client connected to it (``env``: its whole environment)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    log_file = open(log_path, "wb") if log_path else None  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "gadgetron", str(port), module, target],
        stdout=log_file or subprocess.DEVNULL, stderr=subprocess.STDOUT if log_file else None,
        env=dict(os.environ) if env is None else env,
    )
    client = None
    try:
        deadline = time.monotonic() + timeout_s
        while client is None:
            try:
                sock, _ = listener.accept()
                sock.settimeout(None)
                client = StreamClient(sock)
                client.process = process
            except TimeoutError:
                if process.poll() is not None:
                    raise GadgetStartError(f"gadget process exited with code {process.returncode} before "
                                           f"connecting{f'; see {log_path}' if log_path else ''}") from None
                if time.monotonic() > deadline:
                    raise GadgetStartError(f"gadget did not connect within {timeout_s:.0f} s") from None
        yield client
    finally:
        listener.close()
        if client is not None:
            client.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log_file:
            log_file.close()


def connect(host: str, port: int, timeout_s: float = 30.0) -> StreamClient:
    """A client connected to a gadget server or a Gadgetron server."""
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return StreamClient(sock)


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) with a clear error."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


@dataclass
class StreamResult:
    """What came back from one conversation, and when."""

    messages: list[Message] = field(default_factory=list)
    first_message_s: float | None = None  # from the start of sending
    arrival_s: list[float] = field(default_factory=list)  # per message in ``messages``
    total_s: float = 0.0
    texts: list[str] = field(default_factory=list)  # TEXT / ERROR messages (Gadgetron server)


def stream_through(client: StreamClient, config_xml: str | bytes, header_xml: str | bytes | None,
                   items: Iterable[object], started: float | None = None) -> StreamResult:
    """Send config, header, every item and CLOSE on a thread; collect the replies until CLOSE.

    Times are measured from ``started`` (a ``time.perf_counter()`` value; default: now).
    """
    result = StreamResult()
    errors: list[BaseException] = []
    started = time.perf_counter() if started is None else started

    def sender() -> None:
        try:
            client.send_config(config_xml)
            client.send_header(header_xml or "")
            for item in items:
                client.send_item(item)
            client.send_close()
        except BaseException as error:  # reported after the reader finishes
            errors.append(error)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    for message in client.messages():
        if result.first_message_s is None:
            result.first_message_s = time.perf_counter() - started
        if isinstance(message.item, str):
            result.texts.append(message.item)
        else:
            result.messages.append(message)
            result.arrival_s.append(time.perf_counter() - started)
    thread.join(timeout=30)
    result.total_s = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"sending to the gadget failed: {errors[0]}") from errors[0]
    return result
