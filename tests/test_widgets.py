"""The widget models: traits, validation, and the version their views are registered under."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ipywidgets import IntSlider, Label
from traitlets import TraitError

from jupyter_realtime import widgets
from jupyter_realtime.widgets import ChannelLink, Chat, LiveChart, LiveLog, LiveValue
from jupyter_realtime.widgets._base import MODULE_NAME, MODULE_VERSION

ROOT = Path(__file__).resolve().parent.parent


def test_public_names() -> None:
    assert widgets.__all__ == [
        "ChannelLink", "Chat", "EditRefused", "LiveChart", "LiveLog", "LiveProgress", "LiveValue",
        "SharedCell",
    ]


def test_module_version_matches_the_lab_extension() -> None:
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert (package["name"], package["version"]) == (MODULE_NAME, MODULE_VERSION)
    base = (ROOT / "labextension" / "src" / "widgets" / "base.ts").read_text()
    assert f"export const MODULE_VERSION = '{MODULE_VERSION}';" in base


@pytest.mark.parametrize("cls", [LiveValue, LiveLog, LiveChart, Chat])
def test_views_are_the_extensions(cls: type) -> None:
    w = cls("demo")
    state = w.get_state()
    assert state["_view_module"] == state["_model_module"] == "jupyter-realtime"
    assert state["_view_module_version"] == state["_model_module_version"] == MODULE_VERSION
    assert state["_view_name"] == cls.__name__ + "View"
    assert state["_model_name"] == cls.__name__ + "Model"
    assert (state["channel"], state["transports"]) == ("demo", [])
    w.close()


def test_options_are_synced_traits() -> None:
    v = LiveValue("prices", key="AAPL")
    assert (v.get_state()["key"], v.get_state()["show_latency"]) == ("AAPL", False)
    log = LiveLog("alerts", max_items=200)
    assert log.get_state()["max_items"] == 200
    chart = LiveChart("train:metrics", x="step", y=["loss", "accuracy"], window=50)
    assert (chart.x, chart.y, chart.window) == ("step", ["loss", "accuracy"], 50)
    assert LiveChart("m", y="loss").y == ["loss"]
    assert Chat("team").get_state()["backlog"] == 100
    assert LiveValue("x", transports=["ws", "poll"]).transports == ["ws", "poll"]


def test_bad_channel_and_transports_are_refused() -> None:
    with pytest.raises(TraitError, match="bad channel name"):
        LiveValue("a/b")
    with pytest.raises(TraitError, match="bad channel name"):
        LiveLog("")
    with pytest.raises(TraitError, match="unknown transports"):
        LiveValue("x", transports=["carrier-pigeon"])
    with pytest.raises(TraitError):
        LiveLog("x", max_items=-1)


def test_channel_link_serializes_its_target() -> None:
    slider = IntSlider()
    link = ChannelLink(slider, "value", channel="knob")
    state = link.get_state()
    assert state["target"] == f"IPY_MODEL_{slider.model_id}"
    assert (state["trait"], state["channel"]) == ("value", "knob")
    assert state["_model_name"] == "ChannelLinkModel"
    link.unlink()
    assert link.comm is None


def test_a_channel_link_displays_as_a_view_of_the_extension() -> None:
    # the result of the README's one-line cell: a widget view, not the text ChannelLink(...)
    link = ChannelLink(IntSlider(), "value", channel="knob")
    bundle = link._repr_mimebundle_()
    assert bundle is not None
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == link.model_id
    state = link.get_state()
    assert (state["_view_module"], state["_view_name"]) == (MODULE_NAME, "ChannelLinkView")
    assert state["_view_module_version"] == MODULE_VERSION
    link.unlink()


def test_channel_link_needs_a_synced_trait() -> None:
    with pytest.raises(TraitError, match="no synced trait 'nope'"):
        ChannelLink(IntSlider(), "nope", channel="knob")
    with pytest.raises(TraitError, match="no synced trait 'keys'"):
        ChannelLink(Label(), "keys", channel="knob")
    with pytest.raises(TraitError, match="bad channel name"):
        ChannelLink(IntSlider(), channel="no spaces")
