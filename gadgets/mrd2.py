"""The inline AI analysis on an MRD v2 stream (``mrd-python``, the binary format Pingvin and the
``mrd_*`` tools pipe between processes).

    python -m inline_ai_gadgets.mrd2 --model lax_cine < images.bin > with_ai.bin

reads an MRD v2 stream (header, then items), writes the header and every item unchanged as soon as
it arrives, and after each complete series its annotated AI copies and report as MRD v2 images.
Images are converted to ``ismrmrd.Image`` (v1) for the core library and back; ``col_dir`` /
``line_dir`` are v1's ``read_dir`` / ``phase_dir``. Needs ``pip install mrd-python``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import ismrmrd
import numpy as np

from inline_ai.mrd_files import HeaderSpec, make_header

from .landmark_gadget import _check_model
from .startup import start_host

log = logging.getLogger("inline_ai_gadgets.mrd2")

_VECTOR_FIELDS = {"field_of_view": "field_of_view", "position": "position", "col_dir": "read_dir",
                  "line_dir": "phase_dir", "slice_dir": "slice_dir",
                  "patient_table_position": "patient_table_position"}
_COUNTER_FIELDS = ("average", "slice", "contrast", "phase", "repetition", "set", "image_index",
                   "image_series_index", "acquisition_time_stamp")


def _mrd():
    try:
        import mrd
    except ImportError as error:
        raise RuntimeError("MRD v2 streams need the mrd-python package: pip install mrd-python") from error
    return mrd


def _stream_item_kinds() -> dict[np.dtype, Callable]:
    mrd = _mrd()
    return {np.dtype(np.float32): mrd.StreamItem.ImageFloat, np.dtype(np.float64): mrd.StreamItem.ImageDouble,
            np.dtype(np.uint16): mrd.StreamItem.ImageUint16, np.dtype(np.int16): mrd.StreamItem.ImageInt16,
            np.dtype(np.uint32): mrd.StreamItem.ImageUint32, np.dtype(np.int32): mrd.StreamItem.ImageInt32,
            np.dtype(np.complex64): mrd.StreamItem.ImageComplexFloat,
            np.dtype(np.complex128): mrd.StreamItem.ImageComplexDouble}


def _meta_text(value: Any) -> str:
    return str(getattr(value, "value", value))


def image_from_mrd2(image: Any) -> ismrmrd.Image:
    """An ``ismrmrd.Image`` (v1) with the pixels, geometry, counters and meta of an MRD v2 image."""
    head = image.head
    converted = ismrmrd.Image.from_array(np.ascontiguousarray(image.data))
    for v2_name, v1_name in _VECTOR_FIELDS.items():
        value = getattr(head, v2_name)
        if value is not None:
            getattr(converted, v1_name)[:] = [float(v) for v in value]
    for name in _COUNTER_FIELDS:
        value = getattr(head, name)
        if value is not None:
            setattr(converted, name, int(value))
    converted.image_type = int(head.image_type.value)
    if head.user_int:
        converted.user_int[:len(head.user_int)] = head.user_int
    if head.user_float:
        converted.user_float[:len(head.user_float)] = head.user_float
    if image.meta:
        meta = ismrmrd.Meta()
        for key, values in image.meta.items():
            texts = [_meta_text(v) for v in values]
            meta[key] = texts[0] if len(texts) == 1 else texts
        converted.attribute_string = meta.serialize()
    return converted


def image_to_mrd2(image: ismrmrd.Image) -> Any:
    """An MRD v2 stream item holding an ``ismrmrd.Image`` (v1)."""
    mrd = _mrd()
    data = np.asarray(image.data)
    kinds = _stream_item_kinds()
    if data.dtype not in kinds:
        data = data.astype(np.float32)
    fields: dict[str, Any] = {name: int(getattr(image, name)) for name in _COUNTER_FIELDS}
    for v2_name, v1_name in _VECTOR_FIELDS.items():
        fields[v2_name] = np.asarray(getattr(image, v1_name), dtype=np.float32)
    head = mrd.ImageHeader(image_type=mrd.ImageType(int(image.image_type) or 1),
                           user_int=[int(v) for v in image.user_int], user_float=[float(v) for v in image.user_float],
                           **fields)
    meta = {}
    if image.attribute_string:
        for key, value in ismrmrd.Meta.deserialize(image.attribute_string).items():
            values = value if isinstance(value, list) else [value]
            meta[key] = [mrd.ImageMetaValue.String(str(v)) for v in values]
    return kinds[data.dtype](mrd.Image(head=head, data=data, meta=meta))


def header_to_xml(header: Any) -> str:
    """The v1 XML header the core library reads (geometry, phase / slice counts, descriptions)."""
    encoding = header.encoding[0] if header and header.encoding else None
    space = (encoding.recon_space or encoding.encoded_space) if encoding else None
    matrix = (int(space.matrix_size.x), int(space.matrix_size.y)) if space else (1, 1)
    fov = (float(space.field_of_view_mm.x), float(space.field_of_view_mm.y),
           float(space.field_of_view_mm.z)) if space else (1.0, 1.0, 1.0)
    limits = encoding.encoding_limits if encoding else None
    phases = int(limits.phase.maximum) + 1 if limits and limits.phase else 1
    slices = int(limits.slice.maximum) + 1 if limits and limits.slice else 1
    info = header.measurement_information if header else None
    system = header.acquisition_system_information if header else None
    return make_header(HeaderSpec(
        matrix=matrix, fov_mm=fov, phases=phases, slices=slices,
        series_description=(info.series_description or "") if info else "",
        protocol_name=(info.protocol_name or "") if info else "",
        field_strength_t=float(system.system_field_strength_t or 1.5) if system else 1.5))


class TruncatedStream(RuntimeError):
    """The input ended (or broke off) before a complete MRD v2 stream; what was read went through."""


# What mrd-python raises on a stream that ends early (BufferError: its reader resizing a viewed buffer).
_READ_ERRORS = (EOFError, BufferError)


def process_stream(source: BinaryIO, destination: BinaryIO, settings) -> int:
    """Copy an MRD v2 stream, adding the AI outputs; returns the number of AI images written.

    Raises :class:`TruncatedStream` when the input breaks off; every item read before that has
    been written, and the series it completed have been analysed.
    """
    mrd = _mrd()
    from inline_ai.stream import StreamProcessor

    try:
        reader = mrd.BinaryMrdReader(source)
        header = reader.read_header()
    except _READ_ERRORS as error:
        raise TruncatedStream(f"input ended before an MRD v2 header ({type(error).__name__})") from error
    writer = mrd.BinaryMrdWriter(destination)
    writer.write_header(header)
    originals: dict[int, tuple[ismrmrd.Image, Any]] = {}
    written = 0

    def send(item: object) -> None:
        nonlocal written
        entry = originals.pop(id(item), None)
        if entry is not None and entry[0] is item:
            writer.write_data([entry[1]])  # the original stream item, untouched
            return
        writer.write_data([image_to_mrd2(item)])
        written += 1

    reason = _check_model(settings)
    processor = None if reason else StreamProcessor(settings, send, log, header=header_to_xml(header))
    if reason:
        log.error("%s -- passing every item through unchanged", reason)
    broken_off: Exception | None = None
    items_read = 0
    try:
        for item in reader.read_data():
            items_read += 1
            image = getattr(item, "value", None)
            if processor is None or not isinstance(image, mrd.Image):
                writer.write_data([item])
                continue
            converted = image_from_mrd2(image)
            originals[id(converted)] = (converted, item)
            processor.on_image(converted)
            if id(converted) in originals:
                send(converted)
    except _READ_ERRORS as error:
        broken_off = error
        log.error("the input broke off (%s); finishing what was read", type(error).__name__)
    if processor is not None:
        processor.close()
    writer.close()
    if broken_off is not None:
        raise TruncatedStream(f"input broke off after {items_read} complete items "
                              f"({type(broken_off).__name__})") from broken_off
    reader.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inline_ai_gadgets.mrd2", description=__doc__.splitlines()[0])
    parser.add_argument("--input", "-i", help="MRD v2 stream file (default: stdin)")
    parser.add_argument("--output", "-o", help="output file (default: stdout)")
    parser.add_argument("--model", help="model NAME, PATH or auto")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    start = start_host("mrd2", "mrd2", args.assignments, check_model=False, model=args.model)
    if start.exit_code:
        return start.exit_code
    settings = start.settings
    source = open(args.input, "rb") if args.input else sys.stdin.buffer  # noqa: SIM115 - closed by the reader
    destination = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        written = process_stream(source, destination, settings)
    except TruncatedStream as error:
        print(f"mrd2: {args.input or 'stdin'} is empty or truncated: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"mrd2: {error}", file=sys.stderr)
        return 2
    log.info("wrote %d AI images", written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
