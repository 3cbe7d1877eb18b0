"""``inline-ai bench``: time a series through a warm gadget server (connect mode).

Starts ``inline-ai serve`` on a free loopback port, streams the series ``--repeat`` times over the
real protocol and reports, as JSON: ``median_series_s`` (config sent -> gadget's CLOSE received),
``model_load_s`` (in the server), ``cold_start_s`` (server process start -> first AI image back),
``peak_rss_mb`` (server's peak resident memory) and a per-stage breakdown (decode, resample,
inference, points, measures, annotate, report, encode; medians over the warm runs, from the
server's per-connection stats).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ismrmrd

from . import chains, transport
from .gadget_config import parse_assignments
from .replay import ReplayError, _resolve_model_argument, load_input
from .wire import encode_item

STAGES = ("decode", "resample", "inference", "points", "refine", "measures", "annotate", "report", "encode")
_LISTENING = re.compile(r"listening on \S+:(\d+) model_load_s=([0-9.]+)")


def _peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process (Linux), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def start_server(extra_args: list[str], stats_path: Path, timeout_s: float = 120.0):
    """Start ``inline-ai serve --port 0``; return (process, port, model_load_s, start time)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "inline_ai", "serve", "--host", "127.0.0.1", "--port", "0",
         "--stats", str(stats_path), *extra_args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "INLINE_AI_LOG_LEVEL": os.environ.get("INLINE_AI_LOG_LEVEL", "WARNING")})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            process.wait()
            raise ReplayError(f"inline-ai serve exited with code {process.returncode} before listening")
        match = _LISTENING.search(line)
        if match:
            return process, int(match.group(1)), float(match.group(2)), started
    process.kill()
    raise ReplayError("inline-ai serve did not start listening in time")


def run_bench(args: argparse.Namespace) -> dict:
    replay_input = load_input(args.series)
    items = replay_input.items
    sent = {encode_item(item) for item in items}
    properties = parse_assignments(args.assignments)
    model = _resolve_model_argument(args.model)
    config_xml = chains.make_configuration({**({"model": model} if model else {}), **properties})
    server_args = [arg for name, value in properties.items() for arg in ("--set", f"{name}={value}")]
    if model:
        server_args += ["--model", model]

    with tempfile.TemporaryDirectory() as scratch:
        stats_path = Path(scratch) / "stats.jsonl"
        process, port, model_load_s, process_started = start_server(server_args, stats_path)
        try:
            series_s: list[float] = []
            cold_start_s = None
            ai_images = 0
            for run in range(args.repeat):
                client = transport.connect("127.0.0.1", port)
                try:
                    result = transport.stream_through(client, config_xml, replay_input.header_xml, items,
                                                      started=process_started if run == 0 else None)
                finally:
                    client.close()
                ai_arrivals = [t for m, t in zip(result.messages, result.arrival_s, strict=True)
                               if m.raw not in sent and isinstance(m.item, ismrmrd.Image)]
                if run == 0:
                    cold_start_s = ai_arrivals[0] if ai_arrivals else None
                    ai_images = len(ai_arrivals)
                else:
                    series_s.append(result.total_s)
            if not series_s:  # a single run: its time includes the cold start
                series_s.append(result.total_s)
            peak_rss_mb = _peak_rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
        stats = [json.loads(line) for line in stats_path.read_text().splitlines()] if stats_path.exists() else []

    warm_stats = stats[1:] or stats
    stages: dict[str, float | None] = {}
    for stage in STAGES:
        values = [s[f"{stage}_s"] if f"{stage}_s" in s else s.get("stages", {}).get(stage) for s in warm_stats]
        values = [float(v) for v in values if v is not None]
        stages[stage] = statistics.median(values) if values else None
    return {
        "series": str(args.series),
        "images": len(items),
        "repeat": args.repeat,
        "ai_images_per_run": ai_images,
        "median_series_s": statistics.median(series_s),
        "series_s": series_s,
        "model_load_s": model_load_s,
        "cold_start_s": cold_start_s,
        "peak_rss_mb": peak_rss_mb,
        "stages_s": stages,
        "configuration_error": next((s.get("configuration_error") for s in stats if s.get("configuration_error")),
                                    None),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inline-ai bench", description=__doc__.splitlines()[0])
    parser.add_argument("series", help="ISMRMRD HDF5 image file (or DICOM directory)")
    parser.add_argument("--repeat", type=int, default=5, help="number of runs (the first also gives cold start)")
    parser.add_argument("--json", dest="json_out", help="write the results to this JSON file")
    parser.add_argument("--model", help="model NAME, PATH or auto")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat < 1:
        print("inline-ai bench: --repeat must be at least 1", file=sys.stderr)
        return 2
    try:
        results = run_bench(args)
    except (ReplayError, ValueError, ConnectionError) as error:
        print(f"inline-ai bench: {error}", file=sys.stderr)
        return 2
    text = json.dumps(results, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text)
    print(text)
    return 0 if results["configuration_error"] is None else 1
