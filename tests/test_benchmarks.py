"""Smoke test of ``benchmarks/``: every part's code path at tiny sizes, no assertion on time.

The peers (flow_matching, torchcfm, POT), scikit-learn and matplotlib are
optional: the parts leave out what is not installed, and this test checks
only that each part runs, returns its tables and writes its files.
"""

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common  # noqa: E402
from benchmarks.__main__ import main  # noqa: E402

PARTS = [
    "train_step",
    "shape_checks",
    "sampling",
    "coupling",
    "likelihood",
    "gradients",
    "paper",
    "gpu",
    "reliability",
    "multistep",
    "image_step",
    "posterior",
    "guidance",
]


@pytest.mark.parametrize("part", PARTS)
def test_part_runs_and_writes(part: str, tmp_path: Path) -> None:
    rc = main(["--tiny", "--only", part, "--out", str(tmp_path)])
    assert rc == 0
    payload = json.loads((tmp_path / f"{part}.json").read_text())
    assert payload["section"] == part
    assert (tmp_path / f"{part}.md").read_text().startswith("## ")
    assert (tmp_path / "summary.md").exists() and (tmp_path / "results.json").exists()
    if part == "gpu" and not torch.cuda.is_available():
        assert payload["skipped"] and "CUDA" in payload["skipped"]
    elif not payload["skipped"]:
        assert payload["tables"] and all(t["rows"] for t in payload["tables"])
    for plot in payload["plots"]:
        assert (tmp_path / plot).stat().st_size > 0


def test_interleave_rotates_and_counts() -> None:
    calls: list[str] = []

    def case(name: str):
        return lambda n: calls.extend([name] * n)

    times = common.interleave({"a": case("a"), "b": case("b")}, repeats=3, inner=2, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    # warm-up a, b; then rounds a b / b a / a b
    assert calls == ["a", "b", "a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b"]
    r = common.ratios({"x": [2.0, 4.0], "y": [1.0, 2.0]}, "y")
    assert r["x"].median == pytest.approx(2.0) and r["y"].median == pytest.approx(1.0)


def test_shared_network_matches_flowkit_mlp() -> None:
    net = common.make_net(2, seed=0)
    field = common.flowkit_field(net)
    t, x = torch.rand(5), torch.randn(5, 2)
    torch.testing.assert_close(field(t, x), net(x, t))
    torch.testing.assert_close(common.make_net(2, seed=0)(x, t), net(x, t))


def test_shape_check_variants_are_the_decorated_and_plain_call() -> None:
    import inspect

    import jaxtyping

    import flowkit
    from benchmarks.train_step import set_shape_checks
    from flowkit.objective.base import Objective

    flow = flowkit.build(path="ot", objective="cfm", dim=2)
    set_shape_checks(flow.objective, False)
    assert type(flow.objective).__call__ is inspect.unwrap(Objective.__call__)
    # the unchecked call no longer validates: an integer batch gets as far as torch's own sampler, which
    # refuses it; the checked call stops it at the boundary with jaxtyping's type-check error
    bad = torch.randn(4, 2).long()
    with pytest.raises(RuntimeError, match="Long") as unchecked:
        flow.objective(flow.field, flow.path, bad)
    assert not isinstance(unchecked.value, jaxtyping.TypeCheckError)
    on = flowkit.build(path="ot", objective="cfm", dim=2)
    set_shape_checks(on.objective, True)
    with pytest.raises(jaxtyping.TypeCheckError):
        on.objective(on.field, on.path, bad)
