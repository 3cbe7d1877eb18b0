"""Automatic model choice from series descriptions and slice orientation."""

import pytest

from inline_ai.model_select import (
    choose_model,
    sequence_from_description,
    view_from_description,
    view_from_orientation,
)


@pytest.mark.parametrize("description,view", [
    ("CINE_SAX_stack", "sax"), ("cine sa", "sax"), ("ShortAxis cine", "sax"), ("tf2d_4CH", "ch4"),
    ("cine_2ch_retro", "ch2"), ("LVOT cine", "ch3"), ("3CH", "ch3"), ("LAX cine", "lax"),
    ("localizer", ""), ("sagittal", ""), ("SAGE", ""),  # "sa" only as a whole word
])
def test_view_keywords(description, view):
    assert view_from_description(description) == view


@pytest.mark.parametrize("description,sequence", [
    ("LGE_PSIR_SAX", "lge"), ("de_sax", "lge"), ("late enhancement", "lge"), ("MOLLI_T1_map", "t1"),
    ("t1 sax", "t1"), ("cine_sax", "cine"), ("design", "cine"),
])
def test_sequence_keywords(description, sequence):
    assert sequence_from_description(description) == sequence


def test_orientation_heuristic():
    assert view_from_orientation((0.6, -0.55, -0.58)) == "sax"
    assert view_from_orientation((0.2, 0.3, 0.93)) == "lax"
    assert view_from_orientation((1.0, 0.0, 0.0)) == ""
    assert view_from_orientation(None) == "" and view_from_orientation((0.0, 0.0, 0.0)) == ""


def test_choice_falls_back_to_cine_then_default():
    installed = {"sax_cine", "lax_cine", "sax_lge"}
    assert choose_model("LGE_SAX", None, "lax_cine", available=installed).model == "sax_lge"
    assert choose_model("MOLLI SAX", None, "lax_cine", available=installed).model == "sax_cine"
    choice = choose_model("4CH cine", None, "fallback", available={"sax_cine"})
    assert choice.model == "fallback" and choice.view == "ch4" and "no such model" in choice.reason
    custom = choose_model("cine sax", None, "x", models={"sax_cine": "my_sax"}, available={"my_sax"})
    assert custom.model == "my_sax"


def test_model_map_from_gadget_property_text():
    choice = choose_model("cine sax", None, "x", models="sax_cine = site_sax; lax_cine=site_lax",
                          available={"site_sax"})
    assert choice.model == "site_sax"
    with pytest.raises(ValueError, match="KEY=MODEL"):
        choose_model("cine sax", None, "x", models="site_sax", available=set())
