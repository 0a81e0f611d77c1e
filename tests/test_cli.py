"""The ``flowkit`` command, run in-process through ``flowkit.cli.main(argv)`` with tiny budgets."""

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import flowkit
from flowkit.cli import main
from flowkit.plugin import hookimpl

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["--width", "32", "--depth", "2", "--batch-size", "64", "--quiet", "--device", "cpu"]


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "moons"
    assert main(["train", "--data", "moons", "--steps", "30", "--out", str(out), *TINY]) == 0
    return out


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


# -- train / sample / eval ---------------------------------------------------------------------


def test_train_writes_a_run_folder_and_resumes(moons_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert {"manifest.json", "checkpoint.safetensors", "metrics.jsonl"} <= {
        p.name for p in moons_run.iterdir()
    }
    manifest = json.loads((moons_run / "manifest.json").read_text())
    assert manifest["data"]["name"] == "moons" and manifest["flow"]["path"]["name"] == "ot"
    capsys.readouterr()
    assert main(["train", "--data", "moons", "--steps", "30", "--out", str(moons_run), *TINY]) == 0
    assert "already holds this run at step 30" in capsys.readouterr().out


def test_train_resumes_to_more_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    assert main(["train", "--steps", "10", "--out", out, "--checkpoint-every", "5", *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--steps", "15", "--out", out, *TINY]) == 0
    assert "resumed from step 10" in capsys.readouterr().out
    _, _, state = flowkit.train.load_checkpoint(out)
    assert state.step == 15


@pytest.mark.parametrize("suffix", [".pt", ".npy", ".csv", ".png"])
def test_sample_writes_every_format(
    moons_run: Path, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"s{suffix}"
    argv = ["sample", "--checkpoint", str(moons_run), "--n", "50", "--solver", "rk4", "--steps", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "NFE 16" in printed and f"wrote {out}" in printed
    if suffix == ".pt":
        assert torch.load(out).shape == (50, 2)
    elif suffix == ".npy":
        assert np.load(out).shape == (50, 2)
    elif suffix == ".csv":
        assert np.loadtxt(out, delimiter=",").shape == (50, 2)
    else:
        assert out.read_bytes()[:8] == PNG_MAGIC


def test_sample_is_reproducible_by_seed(moons_run: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    for f in (a, b):
        main(
            [
                "sample",
                "--checkpoint",
                str(moons_run),
                "--n",
                "8",
                "--solver",
                "euler",
                "--steps",
                "3",
                "--out",
                str(f),
            ]
        )
    assert torch.equal(torch.load(a), torch.load(b))


def test_eval_reports_nll_nfe_and_energy_distance(
    moons_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--checkpoint", str(moons_run), "--n", "200", "--solver", "rk4", "--steps", "5", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["data"] == "moons" and report["n_data"] == 200 and report["dim"] == 2
    assert report["nfe_likelihood"] == 20 and report["nfe_sample"] == 20
    assert math.isfinite(report["nll"]) and report["energy_distance"] >= 0
    # bits/dim of continuous data: NLL / (D ln 2)
    assert report["bits_per_dim"] == pytest.approx(report["nll"] / (2 * math.log(2)))
    assert main(argv[:-1]) == 0  # the table
    table = capsys.readouterr().out
    assert "NLL" in table and "bits/dim" in table and "energy dist." in table


def test_solver_options_without_a_name_adjust_the_runs_own_solver(
    moons_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nfe = {}
    for tol in ("1e-2", "1e-6"):  # the run's own solver is dopri5: tighter tolerances cost more steps
        argv = ["eval", "--checkpoint", str(moons_run), "--n", "50", "--rtol", tol, "--atol", tol, "--json"]
        assert main(argv) == 0
        nfe[tol] = json.loads(capsys.readouterr().out)["nfe_sample"]
    assert nfe["1e-2"] < nfe["1e-6"]
    # an option the run's solver does not take is one line naming it, exit 2
    assert main(["sample", "--checkpoint", str(moons_run), "--n", "4", "--steps", "3"]) == 2
    assert "steps" in _error_line(capsys)


def test_eval_digits_in_bits_per_dim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    out = str(tmp_path / "digits")
    assert main(["train", "--data", "digits", "--steps", "5", "--out", out, *TINY]) == 0
    manifest = json.loads((Path(out) / "manifest.json").read_text())
    assert manifest["data"]["bin_width"] == pytest.approx(2 / 17)
    capsys.readouterr()
    argv = [
        "eval",
        "--checkpoint",
        out,
        "--solver",
        "rk4",
        "--steps",
        "2",
        "--divergence",
        "hutchinson",
        "--json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_data"] == 359 and report["dim"] == 64  # the test split
    want = (report["nll"] - 64 * math.log(2 / 17)) / (64 * math.log(2))
    assert report["bits_per_dim"] == pytest.approx(want)


# -- demo -----------------------------------------------------------------------------------------


def test_demo_writes_the_pictures_and_a_usable_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--steps", "20", "--n-eval", "100", "--grid", "12", "--quiet"]
    assert main([*argv, "--width", "32", "--depth", "2"]) == 0
    printed = capsys.readouterr().out
    for name in ("samples.png", "trajectories.png", "density.png", "loss.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert "held-out NLL" in printed and "dopri5 NFE" in printed and "wall time" in printed
    assert (
        main(["eval", "--checkpoint", str(out / "run"), "--n", "50", "--solver", "euler", "--steps", "2"])
        == 0
    )


def test_demo_refuses_data_that_is_not_2d(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--data", "digits"]) == 2
    assert "2-D" in _error_line(capsys)


# -- plugins --------------------------------------------------------------------------------------


def test_plugins_lists_every_name_with_its_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DISTRIBUTION", "VERSION", "PLUGIN"]
    for entry in flowkit.available():
        assert any(
            line.split()[:3] == [entry.kind, entry.name, entry.source.distribution or "-"] for line in lines
        )
    assert main(["plugins", "--json", "--kind", "solver"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in listed["registered"]} >= {"euler", "rk4", "dopri5"}
    assert all(e["kind"] == "solver" for e in listed["registered"])


def test_plugins_reports_a_plugin_that_failed(capsys: pytest.CaptureFixture[str]) -> None:
    @hookimpl
    def flowkit_register(registry: object) -> None:
        raise RuntimeError("boom in register")

    broken = types.SimpleNamespace(
        flowkit_register=flowkit_register, __name__="broken_plugin", FLOWKIT_PLUGIN_API=1
    )
    flowkit.plugin.register(broken, name="broken_plugin")
    try:
        with pytest.warns(UserWarning, match="broken_plugin"):
            assert main(["plugins"]) == 0
        out = capsys.readouterr().out
        assert "not loaded (1):" in out and "broken_plugin" in out and "boom in register" in out
    finally:
        flowkit.plugin.unregister("broken_plugin")


# -- errors a person can act on: one line on stderr, exit status 2 ---------------------------------


def test_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("sample", "eval"):
        assert main([cmd, "--checkpoint", str(tmp_path / "nope")]) == 2
        assert "nope" in _error_line(capsys)


def test_corrupted_checkpoint_and_manifest(
    moons_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in moons_run.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "checkpoint.safetensors").write_bytes(b"not a safetensors file at all")
    assert main(["sample", "--checkpoint", str(bad)]) == 2
    assert "checkpoint.safetensors" in _error_line(capsys)
    (bad / "manifest.json").write_text("{ truncated")
    assert main(["eval", "--checkpoint", str(bad)]) == 2
    assert "manifest.json" in _error_line(capsys)


def test_unknown_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", "mons", "--out", str(tmp_path / "a"), *TINY]) == 2
    assert "Did you mean 'moons'" in _error_line(capsys)
    assert main(["train", "--solver", "dopri", "--out", str(tmp_path / "b"), *TINY]) == 2
    assert "unknown solver 'dopri'" in _error_line(capsys)
    assert (
        main(["train", "--path", "ot", "--path-option", "sigma=0.1", "--out", str(tmp_path / "c"), *TINY])
        == 2
    )
    assert "sigma" in _error_line(capsys)


def test_unknown_solver_when_sampling(moons_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--checkpoint", str(moons_run), "--solver", "rk5"]) == 2
    assert "unknown solver" in _error_line(capsys)


def test_folder_holding_another_run(
    moons_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", "8gaussians", "--steps", "30", "--out", str(moons_run), *TINY]
    assert main(argv) == 2
    assert "holds another run" in _error_line(capsys)
    other = tmp_path / "stuff"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["train", "--steps", "2", "--out", str(other), *TINY]) == 2
    assert "not a flowkit run folder" in _error_line(capsys)


def test_bad_values(moons_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--checkpoint", str(moons_run), "--out", str(tmp_path / "x.txt")]) == 2
    assert ".png" in _error_line(capsys)
    assert main(["train", "--steps", "0", "--out", str(tmp_path / "z"), *TINY]) == 2
    assert "steps" in _error_line(capsys)
    assert main(["sample", "--checkpoint", str(moons_run), "--solver-option", "oops"]) == 2
    assert "KEY=VALUE" in _error_line(capsys)
    argv = ["sample", "--checkpoint", str(moons_run), "--solver", "euler", "--solver-option", "steps=2.5"]
    assert main(argv) == 2
    assert "steps must be a positive integer; got 2.5" in _error_line(capsys)


def test_the_console_entry_point_exits_2_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flowkit", "eval", "--checkpoint", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("flowkit eval: error:") and "Traceback" not in proc.stderr


def test_plugins_check_runs_the_suite_and_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--check", "--all", "--kind", "solver", "--distribution", "Flowkit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["KIND", "NAME", "DISTRIBUTION", "CHECK", "RESULT", "SECONDS"]
    rows = {(r.split()[1], r.split()[3]): r.split()[4] for r in lines[1:] if r.startswith("solver")}
    assert rows[("rk4", "order")] == rows[("dopri5", "tolerance")] == "passed"
    assert lines[-1].endswith("(3 names)") and " 0 failed" in lines[-1]


def test_plugins_check_exits_1_on_a_failing_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    class Slow(flowkit.solver.Euler):
        """Claims order 2; is order 1."""

        order = 2

    @hookimpl
    def flowkit_register(registry: object) -> None:
        registry.add_solver("claims-two", Slow)  # type: ignore[attr-defined]

    plugin = types.SimpleNamespace(flowkit_register=flowkit_register, __name__="liar", FLOWKIT_PLUGIN_API=1)
    flowkit.plugin.register(plugin, name="liar", distribution="flowkit-liar", version="0.1")
    try:
        assert main(["plugins", "--check", "--json", "--distribution", "flowkit_liar"]) == 1
        rows = json.loads(capsys.readouterr().out)
        status = {r["check"]: r["status"] for r in rows}
        assert status == {
            "closed_form": "failed", "dtypes_and_shapes": "passed", "nfe": "passed", "order": "failed",
        }  # fmt: skip
        assert all(r["distribution"] == "flowkit-liar" and r["name"] == "claims-two" for r in rows)
    finally:
        flowkit.plugin.unregister("liar")
    assert main(["plugins", "--all"]) == 2  # --all without --check: a usage error
    assert "--check" in capsys.readouterr().err
