"""Wire protocol encoding, gadget property parsing and the shipped chain XMLs (no sockets)."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import ismrmrd
import numpy as np
import pytest
from gadgetron.types.image_array import ImageArray
from inline_ai_gadgets import chains, wire
from inline_ai_gadgets.gadget_config import ConfigError, properties_from_config, settings_from_properties

from inline_ai.mrd_files import get_meta, make_image

pytestmark = pytest.mark.filterwarnings("ignore:A builtin ctypes object:RuntimeWarning")

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def make_image_array(n_phases: int = 3, dtype=np.float64) -> ImageArray:
    """A Gadgetron image array [RO, E1, E2, CHA, N, S, LOC] with headers [N, S, LOC] and meta."""
    rng = np.random.default_rng(1)
    data = rng.random((24, 16, 1, 1, n_phases, 1, 1)).astype(dtype)
    headers = np.empty((n_phases, 1, 1), dtype=object)
    for n in range(n_phases):
        image = make_image(data[:, :, 0, 0, n, 0, 0].T.astype(np.float32), pixel_spacing_mm=(1.5, 1.25),
                           phase=n, series_index=3)
        headers[n, 0, 0] = image.getHead()
    meta = [ismrmrd.Meta({"phase": str(n), "SequenceDescription": "CINE"}).serialize() for n in range(n_phases)]
    return ImageArray(data=data, headers=headers, meta=meta)


def test_image_message_round_trip_keeps_pixels_header_and_meta():
    image = make_image(np.arange(20 * 30, dtype=np.float32).reshape(20, 30), pixel_spacing_mm=(1.4, 1.3),
                       phase=4, series_index=7, meta={"SequenceDescription": "CINE_4CH", "list": [1, 2]})
    raw = wire.encode_image(image)
    (message,) = wire.decode_messages(raw + wire.encode_close())
    assert message.message_id == wire.IMAGE
    assert message.raw == raw
    decoded = message.item
    np.testing.assert_array_equal(decoded.data, image.data)
    assert bytes(decoded.getHead()) == bytes(image.getHead())
    assert get_meta(decoded) == {"SequenceDescription": "CINE_4CH", "list": ["1", "2"]}
    assert wire.encode_image(decoded) == raw


def test_image_array_round_trip_converts_to_complex64_for_numpy2():
    array = make_image_array(dtype=np.float64)  # gadgetron 1.4.1's own writer fails on this
    raw = wire.encode_image_array(array)
    (message,) = wire.decode_messages(raw)
    decoded = message.item
    assert isinstance(decoded, ImageArray)
    assert decoded.data.dtype == np.complex64
    np.testing.assert_allclose(decoded.data.real, array.data, rtol=1e-6)
    assert decoded.headers.shape == array.headers.shape
    for got, sent in zip(decoded.headers.ravel(), array.headers.ravel(), strict=True):
        assert bytes(got) == bytes(sent)
    assert decoded.meta == array.meta
    assert wire.encode_image_array(decoded) == raw


def test_text_messages_and_truncated_stream():
    raw = wire.encode_text_message(wire.CONFIG, "<configuration/>") + wire.encode_text_message(wire.HEADER, "x")
    messages = wire.decode_messages(raw)
    assert [(m.message_id, m.item) for m in messages] == [(wire.CONFIG, "<configuration/>"), (wire.HEADER, "x")]
    image_raw = wire.encode_image(make_image(np.ones((4, 4), np.float32), pixel_spacing_mm=(1, 1)))
    with pytest.raises(wire.ProtocolError, match="connection closed"):
        wire.decode_messages(image_raw[:-3])
    with pytest.raises(wire.ProtocolError, match="unsupported Gadgetron message id 1050"):
        wire.decode_messages((1050).to_bytes(2, "little") + b"\0" * 10)


def test_acquisitions_from_a_server_are_decoded():
    acquisition = ismrmrd.Acquisition.from_array(np.ones((2, 16), dtype=np.complex64))
    raw = (wire.ACQUISITION).to_bytes(2, "little") + acquisition.to_bytes()
    (message,) = wire.decode_messages(raw)
    assert isinstance(message.item, ismrmrd.Acquisition) and message.raw == raw
    np.testing.assert_array_equal(message.item.data, acquisition.data)


def test_properties_both_xml_forms():
    modern = '<?xml version="1.0"?><configuration><property name="model" value="lax_cine"/>' \
             '<property name="threshold" value="0.25"/></configuration>'
    legacy = "<configuration><property><name>model</name><value>sax_cine</value></property></configuration>"
    assert properties_from_config(modern) == {"model": "lax_cine", "threshold": "0.25"}
    assert properties_from_config(legacy.encode()) == {"model": "sax_cine"}
    assert properties_from_config("<configuration/>") == {}
    assert properties_from_config(None) == {}
    assert properties_from_config('<?xml version="1.0"?>\n') == {}  # Gadgetron, no <configuration> element
    with pytest.raises(ConfigError, match="not valid XML"):
        properties_from_config("<configuration><property name=")


@dataclasses.dataclass
class _Settings:
    model: str = "auto"
    threshold: float | None = None
    enabled: bool = True
    batch: int = 8
    pixel_size_mm: float = 1.5
    ed_phase: int | None = None
    models: dict[str, str] = dataclasses.field(default_factory=lambda: {"sax_cine": "sax_cine"})


def test_settings_conversion_and_errors(caplog):
    settings = settings_from_properties(
        {"model": "x", "threshold": "0.3", "enabled": "false", "batch": "4", "pixel_size_mm": "2", "bogus": "1"},
        _Settings)
    assert settings == _Settings(model="x", threshold=0.3, enabled=False, batch=4, pixel_size_mm=2.0)
    assert "ignoring unknown gadget property 'bogus'" in caplog.text
    assert settings_from_properties({"threshold": "none"}, _Settings).threshold is None
    typed = settings_from_properties({"ed_phase": "3", "models": "lax_cine=my_lax, sax_lge=x"}, _Settings)
    assert typed.ed_phase == 3 and isinstance(typed.ed_phase, int)
    assert typed.models == {"sax_cine": "sax_cine", "lax_cine": "my_lax", "sax_lge": "x"}
    with pytest.raises(ConfigError, match="key=value"):
        settings_from_properties({"models": "oops"}, _Settings)
    with pytest.raises(ConfigError, match="'enabled': expected true/false"):
        settings_from_properties({"enabled": "maybe"}, _Settings)
    with pytest.raises(ConfigError, match="'batch': expected an integer"):
        settings_from_properties({"batch": "four"}, _Settings)
    base = _Settings(model="served")
    assert settings_from_properties({"batch": "2"}, base=base) == _Settings(model="served", batch=2)


def test_every_analysis_setting_is_documented_and_parses():
    from inline_ai.pipeline import AnalysisSettings

    documented = (CONFIG_DIR / "defaults.md").read_text()
    for field in dataclasses.fields(AnalysisSettings):
        assert f"`{field.name}`" in documented, f"config/defaults.md does not document {field.name}"
    settings = settings_from_properties({"threads": "1", "threshold": "0.2", "annotate": "no"})
    assert (settings.threads, settings.threshold, settings.annotate) == (1, 0.2, False)


CHAIN_FILES = sorted(CONFIG_DIR.glob("*.xml"))


def test_expected_chains_are_shipped():
    names = {path.name for path in CHAIN_FILES}
    assert {"inline_ai_lax_cine.xml", "inline_ai_sax_cine.xml", "inline_ai_auto.xml", "inline_ai_connect.xml",
            "inline_ai_grappa_cine.xml"} <= names


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.name)
def test_chain_parses_and_our_external_node_resolves(path):
    tree = chains.load_chain(path)
    node = chains.inline_ai_node(tree)
    if node.mode == "execute":
        assert node.element.find("execute").get("type") == "python"
        module = importlib.import_module(node.module)
        assert callable(getattr(module, node.target))
    else:
        assert node.port == 18000
    properties = properties_from_config(chains.configuration_text(node))
    assert "model" in properties
    # Only gadgets of Gadgetron's own libraries (or ours) appear.
    for gadget in tree.getroot().iter("gadget"):
        assert gadget.findtext("dll") == "gadgetron_mricore"
    for element in tree.getroot().iter():
        if element.tag in ("reader", "writer"):
            assert element.findtext("dll") in ("gadgetron_core_readers", "gadgetron_core_writers")


def test_grappa_chain_runs_our_gadget_after_recon_before_image_finish():
    tree = chains.load_chain(CONFIG_DIR / "inline_ai_grappa_cine.xml")
    stream = tree.getroot().find("stream")
    order = [(child.findtext("classname") or child.tag) for child in stream]
    assert order.index("GenericReconCartesianGrappaGadget") < order.index("external")
    assert order[-2:] == ["external", "ImageFinishGadget"]


def test_set_properties_edits_and_adds(tmp_path):
    tree = chains.load_chain(CONFIG_DIR / "inline_ai_lax_cine.xml")
    node = chains.inline_ai_node(tree)
    chains.set_properties(node, {"model": "/abs/m.onnx", "threshold": "0.4"})
    properties = properties_from_config(chains.configuration_text(node))
    assert properties["model"] == "/abs/m.onnx" and properties["threshold"] == "0.4"
    assert chains.chain_text(tree).count("<external>") == 1
    bad = tmp_path / "legacy.xml"
    bad.write_text("<gadgetronStreamConfiguration/>")
    with pytest.raises(chains.ChainError, match="not a Gadgetron 4 chain"):
        chains.load_chain(bad)
