"""``inline-ai replay`` / ``bench`` end to end: files in, the gadget over the real protocol, results out."""

from __future__ import annotations

import csv
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from inline_ai_gadgets import bench, chains, replay, wire
from model_factory import make_spot_series, make_test_model

from inline_ai.mrd_files import read_images, write_images

pytestmark = pytest.mark.filterwarnings("ignore:A builtin ctypes object:RuntimeWarning")

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("models"), name="test_lax", view_family="lax")


@pytest.fixture(scope="module")
def cine30(tmp_path_factory):
    """A 30-phase 256x208 (cols x rows) long-axis spot series written as an ISMRMRD file."""
    series = make_spot_series(phases=30, shape=(208, 256))
    path = write_images(tmp_path_factory.mktemp("input") / "cine30.h5", series.header_xml,
                        {"image_1": series.images})
    return series, path


def check_summary_against_expected(summary: dict, series) -> None:
    phases = summary["phases"]
    assert len(phases) == len(series.images)
    for entry, expected in zip(phases, series.points, strict=True):
        got = [[entry["landmarks"][name]["row"], entry["landmarks"][name]["col"]] for name in series.landmark_names]
        np.testing.assert_allclose(got, expected, atol=0.5)
    np.testing.assert_allclose([p["lv_length_mm"] for p in phases], series.lv_length_mm, atol=0.5)
    np.testing.assert_allclose([p["shortening_pct"] for p in phases], series.shortening_pct, atol=1.0)
    assert summary["es_phase"] == int(np.argmin(series.lv_length_mm))
    np.testing.assert_allclose(summary["longitudinal_shortening_pct"], series.shortening_pct.max(), atol=1.0)


def test_replay_of_30_phase_series_gives_expected_landmarks_and_files(tmp_path, model_path, cine30, capsys):
    series, path = cine30
    out = tmp_path / "out"
    started = time.perf_counter()
    code = replay.main([str(path), "--out", str(out), "--model", str(model_path)])
    wall_s = time.perf_counter() - started
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "30/30 originals returned unchanged" in printed and "LV length (mm) per phase" in printed

    (summary,) = json.loads((out / "landmarks.json").read_text())["series"]
    check_summary_against_expected(summary, series)

    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30
    np.testing.assert_allclose([float(r["lv_length_mm"]) for r in rows], series.lv_length_mm, atol=0.5)

    header, groups = read_images(out / "out.h5")
    assert header == series.header_xml
    assert [wire.encode_image(im) for im in groups["image_1"]] == [wire.encode_image(im) for im in series.images]
    assert len(groups["image_100"]) == 30
    assert sum(len(images) for images in groups.values()) >= 61  # originals, annotated copies, report
    assert (out / "montage_series100.png").stat().st_size > 1000
    assert list(out.glob("lv_length_series1_slice*.png"))
    report = json.loads((out / "replay.json").read_text())
    assert report["originals_identical"] == 30 and report["gadget_exit_code"] == 0
    print(f"\nreplay wall time, 30 phases 256x208, test model: {wall_s:.2f} s "
          f"(stream {report['stream_s']:.2f} s)")


def test_replay_with_chain_file_and_property_override(tmp_path, model_path, cine30):
    series, path = cine30
    few = write_images(tmp_path / "few.h5", series.header_xml, {"image_1": series.images[:3]})
    out = tmp_path / "out"
    code = replay.main([str(few), "--out", str(out), "--config", str(CONFIG_DIR / "inline_ai_lax_cine.xml"),
                        "--model", str(model_path), "--set", "report=false", "--no-figures"])
    assert code == 0
    header, groups = read_images(out / "out.h5")
    assert sorted(groups) == ["image_1", "image_100"]  # report disabled: no report series


def test_replay_dicom_directory_in_and_dicom_out(tmp_path, model_path):
    dicom_io = pytest.importorskip("inline_ai.dicom_io")
    series = make_spot_series(phases=4, dtype=np.uint16)
    dicom_in = tmp_path / "dicom_in"
    dicom_io.write_dicom_series(series.images, dicom_in, header_xml=series.header_xml)
    out = tmp_path / "out"
    code = replay.main([str(dicom_in), "--out", str(out), "--model", str(model_path), "--dicom-out",
                        "--no-figures"])
    assert code == 0
    (summary,) = json.loads((out / "landmarks.json").read_text())["series"]
    assert len(summary["phases"]) == 4 and summary.get("error") is None
    assert len(list((out / "dicom").rglob("*.dcm"))) >= 4


class FakeGadgetronServer:
    """Records what a client sends and answers like Gadgetron: the images back, a text, CLOSE."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[wire.Message] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        sock, _ = self.listener.accept()
        with sock:
            read = wire.read_exactly_from(sock)
            for message in wire.iter_messages(read):
                self.received.append(message)
            for message in self.received:
                if message.message_id in (wire.IMAGE, wire.IMAGE_ARRAY):
                    sock.sendall(message.raw)
            sock.sendall(wire.encode_text_message(wire.TEXT, "chain done"))
            sock.sendall(wire.encode_close())
        self.listener.close()


def test_replay_to_a_gadgetron_server_sends_the_chain(tmp_path, cine30, capsys):
    series, _ = cine30
    path = write_images(tmp_path / "two.h5", series.header_xml, {"image_1": series.images[:2]})
    server = FakeGadgetronServer()
    code = replay.main([str(path), "--out", str(tmp_path / "out"), "--gadgetron", f"127.0.0.1:{server.port}",
                        "--config", str(CONFIG_DIR / "inline_ai_sax_cine.xml"), "--model", "sax_special",
                        "--no-figures"])
    server.thread.join(timeout=10)
    assert code == 0
    assert "server: chain done" in capsys.readouterr().out
    kinds = [m.message_id for m in server.received]
    assert kinds == [wire.CONFIG, wire.HEADER, wire.IMAGE, wire.IMAGE]
    chain_xml = server.received[0].item
    assert "<stream>" in chain_xml and "inline_ai_gadgets.landmark_gadget" in chain_xml
    assert 'value="sax_special"' in chain_xml
    assert server.received[1].item == series.header_xml


def test_replay_reports_bad_input_clearly(tmp_path, capsys, cine30):
    assert replay.main([str(tmp_path / "nope.h5"), "--out", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err
    bad_chain = tmp_path / "bad.xml"
    bad_chain.write_text("<configuration><version>2</version><stream/></configuration>")
    empty = write_images(tmp_path / "empty.h5", cine30[0].header_xml, {})
    assert replay.main([str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "holds no images" in capsys.readouterr().err
    not_mrd = tmp_path / "plain.h5"
    not_mrd.write_bytes(b"not hdf5")
    assert replay.main([str(not_mrd), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(chains.ChainError, match="exactly one inline AI external node"):
        chains.inline_ai_node(chains.load_chain(bad_chain))


def test_bench_reports_timings(tmp_path, model_path, cine30):
    series, _ = cine30
    path = write_images(tmp_path / "six.h5", series.header_xml, {"image_1": series.images[:6]})
    out = tmp_path / "bench.json"
    assert bench.main([str(path), "--repeat", "2", "--json", str(out), "--model", str(model_path)]) == 0
    results = json.loads(out.read_text())
    assert results["ai_images_per_run"] >= 6
    assert 0 < results["median_series_s"] < results["cold_start_s"] + 60
    assert results["cold_start_s"] > results["model_load_s"] >= 0
    assert results["peak_rss_mb"] > 20
    for stage in ("decode", "inference", "annotate", "encode"):
        assert results["stages_s"][stage] is not None and results["stages_s"][stage] >= 0, stage


def test_demo_needs_its_sample_and_model_then_replays(tmp_path, model_path, cine30, capsys):
    from inline_ai_gadgets import demo

    assert demo.main(["--sample", str(tmp_path / "absent.h5"), "--out", str(tmp_path / "o")]) == 2
    assert "is not there yet" in capsys.readouterr().err
    series, _ = cine30
    sample = write_images(tmp_path / "sample.h5", series.header_xml, {"image_1": series.images[:5]})
    assert demo.main(["--sample", str(sample), "--model", "no_such_model", "--out", str(tmp_path / "o")]) == 2
    assert "'no_such_model' is not available" in capsys.readouterr().err
    assert demo.main(["--sample", str(sample), "--model", str(model_path), "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert "LV length (mm) per phase" in printed and "longitudinal shortening" in printed


def test_replay_of_several_slices_and_series_in_one_file(tmp_path, model_path):
    slice0 = make_spot_series(phases=4, slice=0, series_index=1)
    slice1 = make_spot_series(phases=4, slice=1, series_index=1)
    other = make_spot_series(phases=3, series_index=2)
    path = write_images(tmp_path / "multi.h5", slice0.header_xml,
                        {"image_1": [*slice0.images, *slice1.images], "image_2": other.images})
    out = tmp_path / "out"
    assert replay.main([str(path), "--out", str(out), "--model", str(model_path), "--no-figures"]) == 0
    summaries = json.loads((out / "landmarks.json").read_text())["series"]
    assert [(s["image_series_index"], s["slice"]) for s in summaries] == [(1, 0), (1, 1), (2, 0)]
    for summary, series in zip(summaries, (slice0, slice1, other), strict=True):
        got = np.array([[[p["landmarks"][n]["row"], p["landmarks"][n]["col"]] for n in series.landmark_names]
                        for p in summary["phases"]])
        np.testing.assert_allclose(got, series.points, atol=0.5)
    report = json.loads((out / "replay.json").read_text())
    assert report["originals_identical"] == 11 and report["originals_missing"] == 0
