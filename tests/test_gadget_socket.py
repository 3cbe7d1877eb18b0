"""The gadget driven over a real socket, in active mode (``python -m gadgetron``) and connect mode."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path

import ismrmrd
import numpy as np
import pytest
from gadgetron.types.image_array import ImageArray
from inline_ai_gadgets import chains, transport, wire
from inline_ai_gadgets.outputs import collect
from inline_ai_gadgets.serve import GadgetServer
from model_factory import make_spot_series, make_test_model

from inline_ai.mrd_files import HeaderSpec, get_meta, make_header, make_image

pytestmark = pytest.mark.filterwarnings("ignore:A builtin ctypes object:RuntimeWarning")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("models"), name="test_lax", view_family="lax")


def spot_image_array(series) -> ImageArray:
    """The spot series as one Gadgetron image array [RO, E1, E2, CHA, N, S, LOC] (N = phases)."""
    planes = np.stack([np.asarray(image.data[0, 0]) for image in series.images])  # [N, rows, cols]
    data = planes.transpose(2, 1, 0)[:, :, None, None, :, None, None].astype(np.complex64)
    headers = np.empty((len(series.images), 1, 1), dtype=object)
    for n, image in enumerate(series.images):
        head = image.getHead()
        head.data_type = ismrmrd.DATATYPE_CXFLOAT
        headers[n, 0, 0] = head
    meta = [image.attribute_string for image in series.images]
    return ImageArray(data=np.asfortranarray(data), headers=headers, meta=meta)


def run_active(items, header_xml, properties, tmp_path):
    """Stream through the gadget started as Gadgetron starts it; return (result, log text, exit code)."""
    log_path = tmp_path / "gadget.log"
    with transport.active_gadget(log_path=log_path) as client:
        result = transport.stream_through(client, chains.make_configuration(properties), header_xml, items)
    return result, log_path.read_text(), client.process.returncode


def assert_originals_identical(items, result):
    """Every original came back once, byte for byte, in the order sent."""
    sent = [wire.encode_item(item) for item in items]
    returned = [m.raw for m in result.messages if m.raw in set(sent)]
    assert returned == sent


def _corrupt_model(directory: Path) -> Path:
    """A model file that is not ONNX, with a card whose checksum matches it."""
    path = make_test_model(directory, name="broken")
    path.write_bytes(b"this is not an onnx model")
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_unusable_model_is_reported_at_configuration_and_everything_passes_through(tmp_path, problem):
    model = tmp_path / "missing.onnx" if problem == "missing" else _corrupt_model(tmp_path / "models")
    series = make_spot_series(phases=3)
    items = [*series.images, spot_image_array(series)]
    result, log, code = run_active(items, series.header_xml, {"model": str(model)}, tmp_path)
    assert code == 0
    assert model.name in log and "cannot be used" in log and "passing every image through" in log
    assert [m.raw for m in result.messages] == [wire.encode_item(item) for item in items]


def test_active_mode_analysis_returns_originals_and_ai_series(tmp_path, model_path):
    series = make_spot_series(phases=6)
    result, log, code = run_active(series.images, series.header_xml, {"model": str(model_path)}, tmp_path)
    assert code == 0, log
    assert_originals_identical(series.images, result)
    outputs = collect((wire.encode_item(i) for i in series.images), result.messages, {1})
    assert outputs.missing_originals == 0 and not outputs.changed_originals
    annotated = [im for im in outputs.ai_images if im.image_series_index == 100]
    assert len(annotated) == 6
    # Originals are forwarded as they arrive, so they all precede the AI series of their series.
    sent = {wire.encode_item(image) for image in series.images}
    first_ai = next(i for i, m in enumerate(result.messages) if m.raw not in sent)
    assert first_ai == len(series.images)
    (summary,) = outputs.summaries
    for phase, expected in zip(summary["phases"], series.points, strict=True):
        got = [[phase["landmarks"][n]["row"], phase["landmarks"][n]["col"]] for n in series.landmark_names]
        np.testing.assert_allclose(got, expected, atol=0.5)
    np.testing.assert_allclose([p["lv_length_mm"] for p in summary["phases"]], series.lv_length_mm, atol=0.5)


def test_image_array_is_forwarded_unchanged_and_analysed(tmp_path, model_path):
    series = make_spot_series(phases=5)
    array = spot_image_array(series)
    result, log, code = run_active([array], series.header_xml, {"model": str(model_path)}, tmp_path)
    assert code == 0, log
    assert result.messages[0].raw == wire.encode_image_array(array)
    echoed = result.messages[0].item
    np.testing.assert_array_equal(echoed.data, array.data)
    assert echoed.meta == array.meta
    ai = [m.item for m in result.messages[1:] if isinstance(m.item, ismrmrd.Image)]
    assert any(get_meta(im).get("AI_Status") == "ok" for im in ai), log


def _bad_series(kind: str) -> tuple[list[ismrmrd.Image], str]:
    spacing = (1.4, 1.3)
    base = make_spot_series(phases=3)
    pixels = [np.asarray(im.data[0, 0]).copy() for im in base.images]
    if kind == "nan":
        pixels[1][10:20, 10:20] = np.nan
    elif kind == "zero":
        pixels = [np.zeros_like(p) for p in pixels]
    elif kind == "one_phase":
        pixels = pixels[:1]
    elif kind == "complex":
        pixels = [p.astype(np.complex64) * (1 + 1j) for p in pixels]
    images = [make_image(p, pixel_spacing_mm=spacing, phase=n, image_index=n, series_index=1)
              for n, p in enumerate(pixels)]
    if kind == "no_fov":
        for image in images:
            image.field_of_view[:] = (0.0, 0.0, 0.0)
    header = make_header(HeaderSpec(matrix=(256, 208), fov_mm=(256 * 1.3, 208 * 1.4, 8), phases=len(images)))
    return images, header


@pytest.mark.parametrize("kind", ["nan", "zero", "one_phase", "complex", "no_fov"])
def test_bad_series_return_every_original_untouched_with_a_reason(tmp_path, model_path, kind):
    images, header = _bad_series(kind)
    result, log, code = run_active(images, header, {"model": str(model_path)}, tmp_path)
    assert code == 0, log
    assert_originals_identical(images, result)
    outputs = collect((wire.encode_item(i) for i in images), result.messages, {1})
    assert outputs.missing_originals == 0
    statuses = {get_meta(im).get("AI_Status") for im in outputs.ai_images}
    if kind == "one_phase":  # one image still gets landmarks, just no shortening
        assert statuses == {"ok"}
        return
    assert "ok" not in statuses, statuses
    assert "not analysed" in log, log  # the reason is logged ...
    if kind == "complex":  # ... and no AI copy of complex data can be made
        assert not outputs.ai_images and "complex" in log
    else:  # ... and carried in the AI copies' meta and the summary
        assert statuses
        (summary,) = outputs.summaries
        assert summary["error"] and summary["error"] in statuses


def test_connect_mode_serves_concurrent_connections(model_path):
    from inline_ai.pipeline import AnalysisSettings

    server = GadgetServer("127.0.0.1", 0, AnalysisSettings(model=str(model_path)))
    thread = threading.Thread(target=server.serve, args=(2,), daemon=True)
    thread.start()
    runs = {1: make_spot_series(phases=4, series_index=1), 2: make_spot_series(phases=5, series_index=2)}
    results: dict[int, transport.StreamResult] = {}

    def run(index: int) -> None:
        client = transport.connect("127.0.0.1", server.port)
        try:
            results[index] = transport.stream_through(client, "<configuration/>", runs[index].header_xml,
                                                      runs[index].images)
        finally:
            client.close()

    clients = [threading.Thread(target=run, args=(i,)) for i in runs]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=60)
    thread.join(timeout=30)
    assert server.connections_served == 2
    for index, series in runs.items():
        assert_originals_identical(series.images, results[index])
        ai = [m.item for m in results[index].messages if m.item.image_series_index == index * 100]
        assert len(ai) == len(series.images)


def test_connection_refused_when_no_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError):
        transport.connect("127.0.0.1", port, timeout_s=2)


def test_summary_travels_as_json(tmp_path, model_path):
    series = make_spot_series(phases=4)
    result, log, _ = run_active(series.images, series.header_xml, {"model": str(model_path)}, tmp_path)
    outputs = collect((wire.encode_item(i) for i in series.images), result.messages, {1})
    (summary,) = outputs.summaries
    assert json.loads(json.dumps(summary)) == summary
    assert summary["image_series_index"] == 1 and len(summary["phases"]) == 4


def test_server_survives_probes_and_peers_that_hang_up_mid_stream(model_path):
    from inline_ai.pipeline import AnalysisSettings

    server = GadgetServer("127.0.0.1", 0, AnalysisSettings(model=str(model_path)))
    thread = threading.Thread(target=server.serve, args=(3,), daemon=True)
    thread.start()
    series = make_spot_series(phases=3)
    socket.create_connection(("127.0.0.1", server.port)).close()  # a port probe
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # hangs up inside an image
        sock.sendall(wire.encode_text_message(wire.CONFIG, "<configuration/>"))
        sock.sendall(wire.encode_text_message(wire.HEADER, series.header_xml))
        sock.sendall(wire.encode_image(series.images[0])[:500])
    client = transport.connect("127.0.0.1", server.port)  # and still serves the next scan
    try:
        result = transport.stream_through(client, "<configuration/>", series.header_xml, series.images)
    finally:
        client.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and server.connections_served == 3
    assert_originals_identical(series.images, result)
