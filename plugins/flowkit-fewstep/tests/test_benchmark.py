"""Smoke test of ``benchmarks/fewstep.py`` (the tutorial's code) at tiny sizes: it runs and writes files."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_tiny_run_writes_tables_and_figures(tmp_path: Path) -> None:
    pytest.importorskip("ot")
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    if not (ROOT / "benchmarks" / "fewstep.py").is_file():
        pytest.skip("not inside the flowkit repository")
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.fewstep import main
    finally:
        sys.path.remove(str(ROOT))
    assert main(["--tiny", "--out", str(tmp_path), "--only", "8gaussians,digits"]) == 0
    payload = json.loads((tmp_path / "fewstep.json").read_text())
    assert [r["dataset"] for r in payload["results"]] == ["8gaussians", "digits"]
    for res in payload["results"]:
        rows = res["rows"]
        assert {r["model"] for r in rows} == {"OT-CFM", "2-rectified", "distilled", "MeanFlow"}
        assert [r["nfe"] for r in rows if r["model"] == "MeanFlow"][:4] == [1, 2, 4, 8]
    digits = payload["results"][1]
    assert all("fd_classifier" in r for r in digits["rows"])
    assert set(digits["bits_per_dim"]) == {"OT-CFM", "2-rectified"}
    assert (tmp_path / "fewstep.md").read_text().startswith("## N. Few-step sampling")
    for name in ("fewstep_quality_vs_nfe.png", "fewstep_samples.png"):
        assert (tmp_path / name).stat().st_size > 0
