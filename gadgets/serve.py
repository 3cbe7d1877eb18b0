"""``inline-ai serve``: the gadget as a long-lived server for ``<external><connect port="P"/>`` chains.

Gadgetron connects to ``address:port`` for every run of the chain and speaks the same protocol as
in active mode. The model is loaded once when the server starts; each connection is served on its
own thread, so several scans may stream at once. Properties in a connection's ``<configuration>``
apply over the server's own settings (``--model``, ``--set NAME=VALUE``).
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
import time

from gadgetron.external import Connection

from .landmark_gadget import run_gadget
from .startup import start_host

log = logging.getLogger("inline_ai_gadgets.serve")


class GadgetServer:
    """Accepts Gadgetron connections on a listening socket and runs the gadget for each."""

    def __init__(self, host: str, port: int, base_settings, stats_path: str | None = None) -> None:
        self.base_settings = base_settings
        self.stats_path = stats_path
        self._stats_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self.connections_served = 0

    def _serve_one(self, sock: socket.socket, address) -> None:
        started = time.perf_counter()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.handle_connection(sock)
        except Exception:
            log.exception("connection from %s failed", address)
        finally:
            self.connections_served += 1
            log.info("connection from %s finished in %.2f s", address, time.perf_counter() - started)

    def handle_connection(self, sock: socket.socket) -> None:
        """Run the gadget on one accepted Gadgetron connection (other protocols override this)."""
        if not wait_for_data(sock):
            log.info("peer closed without sending anything (a port probe?)")
            sock.close()
            return
        with Connection(sock) as connection:
            run_gadget(connection, base_settings=self.base_settings, stats_sink=self._write_stats)

    def _write_stats(self, stats: dict) -> None:
        """Append one JSON line per finished connection to ``--stats`` (read by the bench)."""
        if not self.stats_path:
            return
        with self._stats_lock, open(self.stats_path, "a") as handle:
            handle.write(json.dumps(stats) + "\n")

    def serve(self, max_connections: int | None = None) -> None:
        """Accept until ``max_connections`` have been accepted (forever when None)."""
        accepted = 0
        try:
            while max_connections is None or accepted < max_connections:
                sock, address = self.listener.accept()
                accepted += 1
                log.info("accepted connection %d from %s", accepted, address)
                thread = threading.Thread(target=self._serve_one, args=(sock, address), daemon=True)
                thread.start()
                self._threads.append(thread)
        finally:
            for thread in self._threads:
                thread.join()
            self.listener.close()


def wait_for_data(sock: socket.socket, timeout_s: float = 60.0) -> bool:
    """True once the peer has sent something; False when it hung up (or stayed silent) first.

    The ``gadgetron`` package's connection reads the configuration at once and would spin on a
    socket that is already closed, so probes (``nc -z``, health checks) are filtered out here.
    """
    sock.settimeout(timeout_s)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except (TimeoutError, OSError):
        return False
    finally:
        sock.settimeout(None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inline-ai serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18000, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default all interfaces)")
    parser.add_argument("--model", help="model name or path (default: AnalysisSettings' default)")
    parser.add_argument("--device", help="cpu or cuda")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                        help="any other gadget property, e.g. --set threshold=0.2 (repeatable)")
    parser.add_argument("--max-connections", type=int, help="exit after serving this many connections")
    parser.add_argument("--stats", help="append per-connection timings as JSON lines to this file")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    process_started = time.perf_counter()
    start = start_host("serve", "inline-ai serve", args.assignments, model=args.model, device=args.device)
    if start.exit_code:
        return start.exit_code
    server = GadgetServer(args.host, args.port, start.settings, args.stats)
    # One parseable line for scripts and tests (bench reads it): port and model load time.
    print(f"listening on {args.host}:{server.port} model_load_s={start.model_load_s:.4f} "
          f"startup_s={time.perf_counter() - process_started:.4f}", flush=True)
    try:
        server.serve(args.max_connections)
    except KeyboardInterrupt:
        pass
    return 0
