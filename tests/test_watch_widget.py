"""``LiveProgress``: its model's traits and the view it is registered with.

The view itself (a live bar from ``progress()`` messages, the state at once when opened late)
is tested in Chromium in ``test_browser_watch.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from traitlets import TraitError

from jupyter_realtime.widgets import LiveProgress
from jupyter_realtime.widgets._base import MODULE_VERSION

ROOT = Path(__file__).resolve().parent.parent


def test_live_progress_state_names_its_view() -> None:
    w = LiveProgress("train:progress")
    state = w.get_state()
    assert (state["_model_name"], state["_view_name"]) == ("LiveProgressModel", "LiveProgressView")
    assert state["_view_module"] == "jupyter-realtime"
    assert state["_view_module_version"] == MODULE_VERSION
    assert (state["channel"], state["bar"], state["max_bars"], state["history"]) == (
        "train:progress", "", 5, 200,
    )  # fmt: skip
    w.close()


def test_live_progress_refuses_bad_values() -> None:
    with pytest.raises(TraitError, match="bad channel name"):
        LiveProgress("train/progress")
    with pytest.raises(TraitError):
        LiveProgress("p", history=5000)  # the server answers at most 1000 a request
    with pytest.raises(TraitError):
        LiveProgress("p", max_bars=0)


def test_the_view_is_registered_with_the_same_defaults() -> None:
    src = ROOT / "labextension" / "src" / "widgets"
    index = (src / "index.ts").read_text()
    assert "LiveProgressModel," in index and "LiveProgressView" in index
    view = (src / "progress.ts").read_text()
    defaults = dict(re.findall(r"^\s+(bar|max_bars|history): ('?\w*'?),?$", view, re.M))
    assert defaults == {"bar": "''", "max_bars": "5", "history": "200"}
