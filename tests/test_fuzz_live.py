"""A small live fuzz run (``benchmarks/fuzz.py``): a few thousand bad inputs, nothing breaks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_few_thousand_fuzzed_inputs_break_nothing(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.fuzz", "--frames", "3000", "--seed", "7",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert out.exists(), done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["total_inputs"] >= 3000
    assert result["count_5xx_or_internal"] == 0, result["server_5xx_or_internal"]
    assert result["count_server_log_errors"] == 0, result["server_log_errors"]
    assert result["hangs"] == []
    assert result["server_alive_at_end"]
    good = result["good_client"]
    assert good["failures"] == [] and good["published"] > 0
    assert good["ws_received"] == good["sse_received"] == good["published"]
    assert result["codes"]["ws:bad_request"] > 0 and result["codes"]["http:400:bad_request"] > 0
    assert result["ok"] and done.returncode == 0
