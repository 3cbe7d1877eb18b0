"""The MRD streaming (OpenRecon / ismrmrd-server) adapter over a real socket."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from inline_ai_gadgets import openrecon, wire
from inline_ai_gadgets.gadget_config import ConfigError
from model_factory import make_spot_series, make_test_model

from inline_ai.mrd_files import get_meta
from inline_ai.pipeline import AnalysisSettings

pytestmark = pytest.mark.filterwarnings("ignore:A builtin ctypes object:RuntimeWarning")


def test_parameters_from_openrecon_json():
    text = json.dumps({"version": "1.1.0", "parameters": {"model": "lax_cine", "threshold": 0.2,
                                                           "sendOriginal": "False", "config": "inlineai",
                                                           "annotate": True}})
    properties, send_original = openrecon.parameters_from_json(text)
    assert properties == {"model": "lax_cine", "threshold": "0.2", "annotate": "true"}
    assert send_original is False
    assert openrecon.parameters_from_json("{}") == ({}, True)
    with pytest.raises(ConfigError, match="not JSON"):
        openrecon.parameters_from_json("model=x")


def _talk(port: int, config: bytes, header_xml: str, parameters: dict | None, images) -> list[wire.Message]:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        def sender() -> None:
            sock.sendall(config)
            sock.sendall(wire.encode_text_message(wire.HEADER, header_xml))
            if parameters is not None:
                sock.sendall(wire.encode_text_message(wire.TEXT, json.dumps({"parameters": parameters})))
            for image in images:
                sock.sendall(wire.encode_image(image))
            sock.sendall(wire.encode_close())

        thread = threading.Thread(target=sender)
        thread.start()
        messages = list(wire.iter_messages(wire.read_exactly_from(sock)))
        thread.join()
    return messages


def test_mrd_server_analyses_and_honours_send_original(tmp_path):
    model = make_test_model(tmp_path, name="test_lax")
    server = openrecon.MrdServer("127.0.0.1", 0, AnalysisSettings(model="auto"))
    thread = threading.Thread(target=server.serve, args=(2,), daemon=True)
    thread.start()
    series = make_spot_series(phases=4)
    sent = [wire.encode_image(image) for image in series.images]

    by_name = (1).to_bytes(2, "little") + b"inline_ai".ljust(openrecon.CONFIG_NAME_BYTES, b"\0")
    replies = _talk(server.port, by_name, series.header_xml, {"model": str(model), "sendoriginal": False},
                    series.images)
    assert not [m for m in replies if m.raw in sent]
    statuses = [get_meta(m.item).get("AI_Status") for m in replies]
    assert len(replies) == 5 and set(statuses) == {"ok"}  # 4 annotated copies and the report

    as_text = wire.encode_text_message(wire.CONFIG, "inline_ai")
    replies = _talk(server.port, as_text, series.header_xml, {"model": str(model)}, series.images)
    assert [m.raw for m in replies[:4]] == sent
    assert len(replies) == 9
    thread.join(timeout=30)
