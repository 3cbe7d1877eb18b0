"""``inline-ai replay``: stream an ISMRMRD image file or a DICOM series through the gadget, save results.

By default the gadget is started exactly as Gadgetron starts an external Python gadget (a loopback
listening socket and ``python -m gadgetron PORT inline_ai_gadgets.landmark_gadget
landmark_gadget``), so the run exercises the real protocol. ``--connect HOST:PORT`` talks to an
``inline-ai serve`` process instead, and ``--gadgetron HOST:PORT`` sends the whole chain XML to a
real Gadgetron server.

Writes into ``--out``: ``out.h5`` (everything returned, one group per image series index),
``landmarks.json`` (``{"series": [...]}``), ``metrics.csv``, ``montage_series*.png``,
``lv_length_series*.png``, ``replay.json`` (counts and timings), ``gadget.log`` (active mode) and
with ``--dicom-out`` the AI series as DICOM in ``dicom/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd
import numpy as np

from inline_ai.mrd_files import HeaderSpec, make_header, read_images

from . import chains, outputs, transport
from .gadget_config import ConfigError, parse_assignments
from .wire import encode_item

REPO_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_GADGETRON_CHAIN = "inline_ai_auto.xml"


class ReplayError(RuntimeError):
    """A replay that cannot start or whose results are incomplete."""


@dataclass
class ReplayInput:
    header_xml: str
    items: list[object]
    source_dicom_dir: Path | None = None


@dataclass
class ReplayReport:
    """Counts and timings of one replay (also written as ``replay.json``)."""

    wall_s: float = 0.0
    stream_s: float = 0.0
    first_reply_s: float | None = None
    originals_sent: int = 0
    originals_identical: int = 0
    originals_changed: int = 0
    originals_missing: int = 0
    ai_images: int = 0
    series: int = 0
    gadget_exit_code: int | None = None
    server_messages: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def _header_from_images(images: list[ismrmrd.Image]) -> str:
    """A minimal MRD header when the file has none (the gadget needs one)."""
    first = images[0]
    matrix = (int(first.matrix_size[0]), int(first.matrix_size[1]))
    fov = tuple(float(v) for v in first.field_of_view)
    phases = len({int(im.phase) for im in images})
    slices = len({int(im.slice) for im in images})
    return make_header(HeaderSpec(matrix=matrix, fov_mm=fov, phases=phases, slices=slices))


def load_input(path: str | Path) -> ReplayInput:
    """Read an ISMRMRD HDF5 image file or a DICOM directory."""
    path = Path(path)
    if path.is_dir():
        try:
            from inline_ai.dicom_io import read_dicom_series
        except ImportError as error:
            raise ReplayError(f"DICOM input needs inline_ai.dicom_io, which is not available: {error}") from error
        header_xml, images = read_dicom_series(path)
        return ReplayInput(header_xml, list(images), source_dicom_dir=path)
    if not path.exists():
        raise ReplayError(f"input not found: {path}")
    try:
        header_xml, groups = read_images(path)
    except (OSError, ValueError) as error:
        raise ReplayError(f"cannot read {path} as an ISMRMRD image file: {error}") from error
    images = [image for group in groups.values() for image in group]
    if not images:
        raise ReplayError(f"{path} holds no images (is it raw data? replay takes reconstructed images)")
    return ReplayInput(header_xml or _header_from_images(images), images)


def _resolve_model_argument(model: str | None) -> str | None:
    """Names stay names; an existing relative path becomes absolute (the gadget may run elsewhere)."""
    if model is None:
        return None
    candidate = Path(model)
    if candidate.suffix in (".onnx", ".json", ".pt") or candidate.exists():
        return str(candidate.resolve())
    return model


def build_configuration(args: argparse.Namespace) -> tuple[str, str | None]:
    """(configuration XML for the gadget, full chain XML for a Gadgetron server or None)."""
    properties = parse_assignments(args.assignments)
    model = _resolve_model_argument(args.model)
    if model:
        properties["model"] = model
    chain_path = args.config
    if chain_path is None and args.gadgetron:
        chain_path = REPO_CONFIG_DIR / DEFAULT_GADGETRON_CHAIN
    if chain_path is None:
        return chains.make_configuration(properties), None
    tree = chains.load_chain(chain_path)
    node = chains.inline_ai_node(tree)
    chains.set_properties(node, properties)
    return chains.configuration_text(node), chains.chain_text(tree)


def run_replay(args: argparse.Namespace) -> ReplayReport:
    started = time.perf_counter()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    replay_input = load_input(args.input)
    config_xml, chain_xml = build_configuration(args)
    items = replay_input.items
    report = ReplayReport(originals_sent=len(items))

    remote = args.gadgetron or args.connect
    if remote:
        # A Gadgetron server gets the whole chain; a running 'inline-ai serve' only the gadget's configuration.
        client = transport.connect(*transport.parse_host_port(remote))
        try:
            result = transport.stream_through(client, chain_xml if args.gadgetron else config_xml,
                                              replay_input.header_xml, items)
        finally:
            client.close()
    else:
        with transport.active_gadget(log_path=out_dir / "gadget.log") as client:
            result = transport.stream_through(client, config_xml, replay_input.header_xml, items)
        report.gadget_exit_code = client.process.returncode if client.process else None

    report.stream_s = result.total_s
    report.first_reply_s = result.first_message_s
    report.server_messages = result.texts
    input_series = {int(getattr(item, "image_series_index", -1)) for item in items
                    if isinstance(item, ismrmrd.Image)}
    collected = outputs.collect((encode_item(item) for item in items), result.messages, input_series)
    report.originals_identical = len(collected.originals)
    report.originals_changed = len(collected.changed_originals)
    report.originals_missing = collected.missing_originals
    report.ai_images = len(collected.ai_images)
    report.series = len(collected.summaries)

    files = [
        outputs.write_out_h5(out_dir / "out.h5", replay_input.header_xml, collected),
        outputs.write_landmarks_json(out_dir / "landmarks.json", collected.summaries),
        outputs.write_metrics_csv(out_dir / "metrics.csv", collected.summaries),
    ]
    if not args.no_figures:
        files += outputs.write_figures(out_dir, collected)
    if args.dicom_out and collected.ai_images:
        try:
            from inline_ai.dicom_io import write_dicom_series
        except ImportError as error:
            raise ReplayError(f"--dicom-out needs inline_ai.dicom_io, which is not available: {error}") from error
        files += write_dicom_series(collected.ai_images, out_dir / "dicom",
                                    source_dicom_dir=replay_input.source_dicom_dir,
                                    header_xml=replay_input.header_xml)
    report.files = [str(Path(f)) for f in files]
    report.wall_s = time.perf_counter() - started
    (out_dir / "replay.json").write_text(json.dumps(report.__dict__, indent=2))
    return report


def print_summaries(landmarks_json: Path) -> None:
    """LV length per phase and shortening, one block per series."""
    for summary in json.loads(landmarks_json.read_text())["series"]:
        line = (f"series {summary.get('image_series_index')} slice {summary.get('slice')}: "
                f"view {summary.get('view')} model {summary.get('model')}")
        if summary.get("refined_by"):
            line += f" (refined by {summary['refined_by']})"
        if summary.get("error"):
            line += f" -- {summary['error']}"
        print(line)
        lengths = [p.get("lv_length_mm") for p in summary.get("phases", [])]
        if any(v is not None for v in lengths):
            print("  LV length (mm) per phase: " + " ".join("-" if v is None else f"{v:.1f}" for v in lengths))
            print(f"  ED phase {summary.get('ed_phase')}, ES phase {summary.get('es_phase')}, longitudinal "
                  f"shortening {_fmt(summary.get('longitudinal_shortening_pct'))} %")


def _fmt(value: object) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):.1f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inline-ai replay", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="ISMRMRD HDF5 image file or DICOM directory")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--model", help="model NAME, PATH to .onnx, or auto")
    parser.add_argument("--config", type=Path, help="Gadgetron 4 chain XML holding the inline AI external node")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                        help="gadget property, e.g. --set threshold=0.2 (repeatable)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--gadgetron", metavar="HOST:PORT", help="send the chain to a Gadgetron server")
    target.add_argument("--connect", metavar="HOST:PORT", help="talk to a running 'inline-ai serve'")
    parser.add_argument("--dicom-out", action="store_true", help="also write the AI series as DICOM")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = run_replay(args)
    except (ReplayError, ConfigError, chains.ChainError, transport.GadgetStartError, ValueError,
            ConnectionError) as error:
        print(f"inline-ai replay: {error}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    print_summaries(out_dir / "landmarks.json")
    print(f"replay: {report.originals_identical}/{report.originals_sent} originals returned unchanged, "
          f"{report.ai_images} AI images, {report.series} series summaries, {report.wall_s:.2f} s "
          f"(stream {report.stream_s:.2f} s) -> {out_dir}")
    for text in report.server_messages:
        print(f"server: {text}")
    if report.gadget_exit_code not in (None, 0):
        print(f"inline-ai replay: the gadget exited with code {report.gadget_exit_code}; see "
              f"{out_dir / 'gadget.log'}", file=sys.stderr)
        return 1
    if not args.gadgetron and (report.originals_missing or report.originals_changed):
        print(f"inline-ai replay: {report.originals_missing} originals missing, {report.originals_changed} changed",
              file=sys.stderr)
        return 1
    return 0
