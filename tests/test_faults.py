"""Fault injection: kills, concurrent runs, damaged files, changed settings and every CLI failure.

Each test tallies the faults it tried (``tried``). With ``FLOWKIT_FAULT_REPORT=DIR`` set, the
module writes the tally to ``DIR/faults.json`` and ``DIR/faults.md`` (the table on the docs'
Reliability page): ``FLOWKIT_FAULT_REPORT=benchmarks/results/reliability pytest
tests/test_faults.py --runslow``. Tests marked slow (the kill loop, two real processes) run only
with ``--runslow``.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import flowkit
from flowkit.cli import main
from flowkit.errors import (
    CheckpointError,
    NonFiniteWeightsError,
    RunLockedError,
    SolverError,
)
from flowkit.train import checkpoint as ck
from flowkit.train import load_checkpoint, save_checkpoint, train
from flowkit.train.files import CHECKPOINT_FILE, MANIFEST_FILE, METRICS_FILE, read_metrics
from flowkit.train.lock import LOCK_FILE, RunLock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _fault_child import PHASES, make_run  # noqa: E402

TINY = ["--width", "16", "--depth", "1", "--batch-size", "32", "--quiet", "--device", "cpu"]
TRAIN = ["train", "--data", "moons", "--steps", "6", "--checkpoint-every", "3", *TINY]

# -- the tally --------------------------------------------------------------------------------------
TALLY: Counter[tuple[str, str, str]] = Counter()


def tried(category: str, fault: str, outcome: str, n: int = 1) -> None:
    """Count ``n`` tries of ``fault`` (in ``category``) that ended as ``outcome`` says."""
    TALLY[(category, fault, outcome)] += n


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    folder = os.environ.get("FLOWKIT_FAULT_REPORT")
    if not folder or not TALLY:
        return
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"category": c, "fault": f, "outcome": o, "tries": n} for (c, f, o), n in sorted(TALLY.items())]
    (out / "faults.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["| category | fault | tries | outcome checked |", "|---|---|---:|---|"]
    lines += [f"| {r['category']} | {r['fault']} | {r['tries']} | {r['outcome']} |" for r in rows]
    total = sum(r["tries"] for r in rows)
    lines.append(f"| **all** | {len(rows)} kinds of fault | **{total}** | |")
    (out / "faults.md").write_text("\n".join(lines) + "\n")


# -- helpers ----------------------------------------------------------------------------------------
def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single stderr line of a failed command (no traceback)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    return err


def fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2, argv
    line = one_line(capsys)
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def tensors_of(folder: Path) -> dict[str, torch.Tensor]:
    return ck.read_checkpoint(folder)[0]


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 6-step CLI run on moons (checkpoints at steps 3 and 6)."""
    out = tmp_path_factory.mktemp("base") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(base_run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(base_run, folder)
    return folder


def forge(folder: Path, change: Callable[[dict[str, torch.Tensor], dict[str, Any]], None]) -> None:
    """Rewrite the folder's checkpoint after ``change(tensors, meta)``, with a valid checksum."""
    tensors, meta = ck.read_checkpoint(folder)
    change(tensors, meta)
    header = {"format": ck.FORMAT, "version": str(ck.VERSION), "checksum": ck.tensors_checksum(tensors)}
    header |= {k: json.dumps(v) for k, v in meta.items()}
    (folder / CHECKPOINT_FILE).write_bytes(safetensors.torch.save(tensors, metadata=header))


# -- 1. two runs in one folder ---------------------------------------------------------------------
def test_a_held_folder_is_refused_naming_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with RunLock(out):  # this process holds it, as another `flowkit train` would
        line = fails([*TRAIN, "--out", str(out)], capsys, str(out), f"process {os.getpid()}")
        assert "in use" in line
        flow, data, config = make_run(out)
        with pytest.raises(RunLockedError) as info:
            train(flow, data, config)
        assert info.value.pid == os.getpid()
        with pytest.raises(RunLockedError):
            save_checkpoint(out, flow)
    assert not (out / MANIFEST_FILE).exists()  # nothing was written by the refused runs
    tried("two runs, one folder", "second run while the first holds the lock", "exit 2 naming the PID", 3)
    assert main([*TRAIN, "--out", str(out)]) == 0  # released: the folder is usable


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    # A process that takes the lock as RunLock does, then dies by SIGKILL while holding it.
    code = (
        "import fcntl, os, signal, sys\n"
        f"fd = os.open({str(out / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    dead = int((out / LOCK_FILE).read_text())
    flow, data, config = make_run(out, steps=2)
    with pytest.warns(UserWarning, match=f"took over the lock left by process {dead}"):
        assert train(flow, data, config).step == 2
    tried("two runs, one folder", "lock left by a SIGKILLed process", "taken over with a warning")


def test_readers_see_whole_checkpoints_while_a_run_writes(tmp_path: Path) -> None:
    # A writer replaces the checkpoint 40 times (every weight = the step); a reader loads meanwhile.
    flow = flowkit.build(dim=2, model=flowkit.MLPField(2, width=64, depth=2))
    tmp_path.mkdir(exist_ok=True)
    ck.write_checkpoint(tmp_path, flow, step=0)
    stop, errors = threading.Event(), []

    def writer() -> None:
        try:
            for step in range(1, 41):
                with torch.no_grad():
                    for p in flow.parameters():
                        p.fill_(float(step))
                ck.write_checkpoint(tmp_path, flow, step=step)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not stop.is_set() or reads < 5:
        tensors, meta = ck.read_checkpoint(tmp_path)  # raises on a torn file (checksum)
        for name, value in ck.section(tensors, "model").items():
            assert bool((value == float(meta["step"])).all()) or meta["step"] == 0, name
        reads += 1
    thread.join()
    assert not errors
    tried(
        "two runs, one folder", "reader loading while a writer replaces the checkpoint", "always whole", reads
    )


@pytest.mark.slow
def test_two_processes_on_one_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, str(HERE / "_fault_child.py"), str(out), "0", "-", "0.002"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        deadline = time.time() + 60
        while not (out / MANIFEST_FILE).exists() and time.time() < deadline:
            time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-m", "flowkit", *TRAIN, "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert holder.poll() is None, "the first run ended before the second met its lock"
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2
    assert f"in use by process {holder.pid}" in second.stderr and "Traceback" not in second.stderr
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["flow"]["field"]["type"] == "custom"  # the holder's manifest, not the second run's
    tried(
        "two runs, one folder", "two real processes training into one folder", "second exits 2 naming the PID"
    )


# -- 2. seeds ---------------------------------------------------------------------------------------
def test_seeded_cli_runs_are_bit_identical(tmp_path: Path) -> None:
    # (the files' bytes may differ: safetensors orders the metadata entries as it likes)
    saved = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        torch.manual_seed(ord(name))  # whatever the global generator held before
        assert main([*TRAIN, "--out", str(tmp_path / name), "--seed", seed]) == 0
        saved.append(ck.read_checkpoint(tmp_path / name))
    assert_same_tensors(saved[0][0], saved[1][0])
    assert saved[0][1] == saved[1][1]
    assert not torch.equal(saved[0][0]["model/field.net.0.weight"], saved[2][0]["model/field.net.0.weight"])
    tried(
        "seeds",
        "two CLI runs with --seed 0 (global generator disturbed between)",
        "bit-identical tensors and metadata",
        2,
    )


def test_seeded_train_calls_are_bit_identical(tmp_path: Path) -> None:
    results = []
    for name, noise in (("a", 5), ("b", 7)):
        flow, data, config = make_run(tmp_path / name, steps=6)
        torch.manual_seed(noise)  # train() seeds the global generator itself
        torch.rand(noise)
        train(flow, data, config)
        results.append(tensors_of(tmp_path / name))
    assert_same_tensors(results[0], results[1])
    tried(
        "seeds", "two train() calls with seed=0 (global generator disturbed)", "bit-identical checkpoints", 2
    )


# -- 3. resume with changed settings ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [
        ("--lr", "0.002", "config.lr 0.001 -> 0.002"),
        ("--batch-size", "16", "config.batch_size 32 -> 16"),
        ("--seed", "3", "config.seed 0 -> 3"),
        ("--warmup-steps", "7", "config.warmup_steps 100 -> 7"),
    ],
)
def test_resume_with_changed_settings_is_refused(
    run_copy: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, key: str
) -> None:
    before = (run_copy / MANIFEST_FILE).read_bytes()
    argv = [*TRAIN, "--out", str(run_copy), "--steps", "9", flag, value]
    if flag == "--batch-size":
        argv = [a if a != "32" else value for a in argv]
        argv = argv[:-2]
    fails(argv, capsys, key, "--override-settings", str(run_copy))
    assert (run_copy / MANIFEST_FILE).read_bytes() == before  # history is not rewritten
    assert ck.read_checkpoint(run_copy)[1]["step"] == 6
    tried("changed settings on resume", f"{flag} changed", "exit 2 with old -> new; manifest untouched")


def test_safe_changes_are_recorded_as_amendments(run_copy: Path) -> None:
    original = json.loads((run_copy / MANIFEST_FILE).read_text())
    argv = [*TRAIN, "--out", str(run_copy), "--log-every", "1", "--checkpoint-every", "4"]
    argv[argv.index("--steps") + 1] = "9"
    argv.remove("--checkpoint-every"), argv.remove("3")
    assert main(argv) == 0
    manifest = json.loads((run_copy / MANIFEST_FILE).read_text())
    assert manifest["config"] == original["config"]  # what the run was stays as it was
    (amendment,) = manifest["amendments"]
    assert amendment["step"] == 6 and amendment["override"] is False
    assert amendment["changes"]["config.steps"] == {"old": 6, "new": 9}
    assert amendment["changes"]["config.log_every"] == {"old": 50, "new": 1}
    assert load_checkpoint(run_copy)[2].config.steps == 9  # type: ignore[union-attr]
    tried(
        "changed settings on resume",
        "--steps, --log-every, --checkpoint-every changed",
        "allowed, amendment with step",
    )


def test_override_records_the_change_with_its_step(run_copy: Path) -> None:
    argv = [*TRAIN, "--out", str(run_copy), "--lr", "0.002", "--override-settings"]
    argv[argv.index("--steps") + 1] = "8"
    assert main(argv) == 0
    manifest = json.loads((run_copy / MANIFEST_FILE).read_text())
    assert manifest["config"]["lr"] == 0.001
    (amendment,) = manifest["amendments"]
    assert amendment["override"] is True and amendment["step"] == 6
    assert amendment["changes"]["config.lr"] == {"old": 0.001, "new": 0.002}
    _, _, state = load_checkpoint(run_copy)
    assert state.step == 8 and state.config is not None and state.config.lr == 0.002
    tried(
        "changed settings on resume", "--lr changed with --override-settings", "allowed, amendment with step"
    )


def test_a_folder_without_a_checkpoint_starts_afresh_with_the_new_settings(run_copy: Path) -> None:
    # Killed before its first checkpoint: nothing was kept, so there is no history to protect.
    (run_copy / CHECKPOINT_FILE).unlink()
    assert main([*TRAIN, "--out", str(run_copy), "--lr", "0.002"]) == 0
    manifest = json.loads((run_copy / MANIFEST_FILE).read_text())
    assert manifest["config"]["lr"] == 0.002 and "amendments" not in manifest
    assert load_checkpoint(run_copy)[2].step == 6
    tried(
        "changed settings on resume",
        "--lr changed before any checkpoint was kept",
        "fresh start, new manifest",
    )


# -- 4. damaged and foreign checkpoints --------------------------------------------------------------
class RunsCode:
    """A pickle payload: unpickling it would create the file ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _flip(offset: Callable[[bytes], int]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        file = folder / CHECKPOINT_FILE
        data = bytearray(file.read_bytes())
        data[offset(bytes(data))] ^= 0x10
        file.write_bytes(bytes(data))

    return damage


def _set_nan(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    tensors["model/field.net.0.weight"][0, 0] = float("nan")


def _set_inf(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    name = next(k for k in sorted(tensors) if k.endswith("exp_avg_sq"))
    tensors[name].view(-1)[0] = float("inf")


def _drop_ema(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    for k in [k for k in tensors if k.startswith("ema/")]:
        del tensors[k]


def _to_float64(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    for k in [k for k in tensors if k.startswith(("model/", "ema/"))]:
        tensors[k] = tensors[k].double()


def _foreign_names(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    tensors.clear()
    tensors["weight"] = torch.randn(4, 4)


def _bad_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    meta["optimizer"] = {"param_groups": "not groups", "scalars": {}}


def _set_step(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    meta["step"] = -3


# name -> (damage, what the error says, whether loading for sampling also fails)
CATALOGUE: dict[str, tuple[Callable[[Path], None], str, bool]] = {
    "truncated to half": (
        lambda f: (f / CHECKPOINT_FILE).write_bytes((f / CHECKPOINT_FILE).read_bytes()[:2000]),
        "cannot read the checkpoint",
        True,
    ),
    "empty file": (lambda f: (f / CHECKPOINT_FILE).write_bytes(b""), "too short", True),
    "one flipped byte in a tensor": (_flip(lambda d: len(d) - 3), "do not match their checksum", True),
    "one flipped byte in the header": (_flip(lambda d: 12), "cannot read the checkpoint", True),
    "foreign safetensors file": (
        lambda f: (f / CHECKPOINT_FILE).write_bytes(safetensors.torch.save({"w": torch.ones(3)})),
        "not written by flowkit",
        True,
    ),
    "faked flowkit metadata on foreign tensors": (
        lambda f: forge(f, _foreign_names),
        "does not fit the flow",
        True,
    ),
    "missing ema/ tensors": (lambda f: forge(f, _drop_ema), "lacks ema/", True),
    "negative step": (lambda f: forge(f, _set_step), "step must be a non-negative integer", True),
    "wrong dtype (float64 weights)": (lambda f: forge(f, _to_float64), "is torch.float64", True),
    "NaN in a weight": (lambda f: forge(f, _set_nan), "model/field.net.0.weight holds 1 NaN", True),
    "inf in the optimizer state": (
        lambda f: forge(f, _set_inf),
        "exp_avg_sq holds 0 NaN and 1 infinite",
        True,
    ),
    "faked optimizer metadata": (
        lambda f: forge(f, _bad_optimizer),
        "cannot resume from the checkpoint",
        False,
    ),
}


@pytest.mark.parametrize("fault", sorted(CATALOGUE))
def test_damaged_checkpoints_are_refused_everywhere(
    run_copy: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    damage, says, loading_fails = CATALOGUE[fault]
    manifest = (run_copy / MANIFEST_FILE).read_bytes()
    damage(run_copy)
    file = str(run_copy / CHECKPOINT_FILE)
    consumers = 1
    if loading_fails:
        with pytest.raises(CheckpointError, match=says) as info:
            load_checkpoint(run_copy)
        assert file in str(info.value)
        fails(["sample", "--checkpoint", str(run_copy), "--n", "5"], capsys, file, says)
        fails(["eval", "--checkpoint", str(run_copy), "--n", "5"], capsys, file, says)
        consumers += 3
    else:
        load_checkpoint(run_copy)  # sampling needs no optimizer state
    fails([*TRAIN, "--out", str(run_copy), "--steps", "9"], capsys, file, says)  # resume
    assert (run_copy / MANIFEST_FILE).read_bytes() == manifest  # the refused resume amended nothing
    who = (
        "load, sample, eval and train resume"
        if loading_fails
        else "train resume (loading needs no optimizer)"
    )
    tried("damaged checkpoint", fault, f"refused by {who}, naming the file", consumers)


def test_pickle_that_would_run_code_is_never_unpickled(
    run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "code-ran"
    torch.save({"model": RunsCode(marker)}, run_copy / CHECKPOINT_FILE)
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        load_checkpoint(run_copy)
    fails(["sample", "--checkpoint", str(run_copy)], capsys, CHECKPOINT_FILE)
    fails([*TRAIN, "--out", str(run_copy), "--steps", "9"], capsys, CHECKPOINT_FILE)
    assert not marker.exists()
    live = tmp_path / "payload.pt"  # the payload is live: unpickling it runs it
    shutil.copy(run_copy / CHECKPOINT_FILE, live)
    torch.load(live, weights_only=False)
    assert marker.exists()
    tried("damaged checkpoint", "pickle file that runs code when unpickled", "refused; code never ran", 3)


def test_non_finite_weights_are_never_saved(tmp_path: Path) -> None:
    flow = flowkit.build(dim=2, model=flowkit.MLPField(2, width=8, depth=1))
    ck.write_checkpoint(tmp_path, flow, step=1)
    before = (tmp_path / CHECKPOINT_FILE).read_bytes()
    with torch.no_grad():
        flow.field.net[2].bias[1] = float("inf")  # type: ignore[index]
    with pytest.raises(
        NonFiniteWeightsError, match=r"model/field\.net\.2\.bias holds 0 NaN and 1 infinite"
    ) as info:
        ck.write_checkpoint(tmp_path, flow, step=2)
    assert info.value.tensor == "model/field.net.2.bias"
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]
    tried(
        "non-finite weights",
        "saving a flow with an infinite weight",
        "refused, naming the tensor; old file kept",
    )


# -- 5. temporary files ------------------------------------------------------------------------------
def test_kill_inside_a_checkpoint_write_then_resume_is_bit_identical(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    train(*make_run(reference)[:2], make_run(reference)[2])
    want = tensors_of(reference)

    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, str(HERE / "_fault_child.py"), str(out), "3", "mid"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert len(left) == 1 and left[0].startswith(f".{CHECKPOINT_FILE}.tmp-")  # the kill leaked it
    _, _, state = load_checkpoint(out, model=make_run(out)[0].field)
    assert state.step == 4  # the checkpoint before the torn write
    flow, data, config = make_run(out)
    with pytest.warns(UserWarning, match="took over the lock"):
        result = train(flow, data, config)
    assert result.start_step == 4 and result.step == 24
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]  # the leftover was removed
    assert_same_tensors(tensors_of(out), want)
    steps = [r["step"] for r in read_metrics(out / METRICS_FILE)]
    assert steps == list(range(2, 25, 2))
    tried(
        "kill",
        "SIGKILL inside a checkpoint write (half written)",
        "loads; resume bit-identical; temp file removed",
    )


@pytest.mark.slow
def test_random_kills_never_lose_the_run(tmp_path: Path) -> None:
    steps = 80
    reference = tmp_path / "reference"
    flow, data, config = make_run(reference, steps=steps)
    train(flow, data, config)
    want = tensors_of(reference)
    out, rng = tmp_path / "run", random.Random(13)
    kills = Counter[str]()
    finished = False
    for _ in range(30):
        write, phase = rng.choice([0, 0, 1, 2, 3]), rng.choice(PHASES)
        argv = [sys.executable, str(HERE / "_fault_child.py"), str(out), str(write), phase, "0", str(steps)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        if write == 0:  # a kill at a random moment of the run
            time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            finished = True
            break
        assert proc.returncode == -signal.SIGKILL, err
        kills["inside a checkpoint write, " + phase if write else "at a random moment"] += 1
        if (out / CHECKPOINT_FILE).exists():  # the checkpoint on disk is whole and verified
            _, _, state = load_checkpoint(out, model=make_run(out)[0].field)
            assert state.step % 2 == 0 and 0 < state.step <= steps
    if not finished:
        done = subprocess.run(
            [*argv[:3], "0", "-", "0", str(steps)], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    assert sum(kills.values()) >= 10
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    assert_same_tensors(tensors_of(out), want)
    steps_logged = [r["step"] for r in read_metrics(out / METRICS_FILE)]
    assert steps_logged == list(range(2, steps + 1, 2))  # each record once, none lost
    for what, n in kills.items():
        tried("kill", f"SIGKILL {what} (random loop)", "checkpoint loads; final weights bit-identical", n)


def test_stale_temporary_files_are_removed_at_the_next_start(run_copy: Path) -> None:
    dead = run_copy / f".{CHECKPOINT_FILE}.tmp-999999999"
    dead.write_bytes(b"x" * 1000)
    alive_reused = run_copy / f".{MANIFEST_FILE}.tmp-1"  # PID 1 exists: a PID reused by another process
    alive_reused.write_bytes(b"{")
    assert main([*TRAIN, "--out", str(run_copy), "--steps", "7"]) == 0
    assert not dead.exists() and not alive_reused.exists()
    tried("temporary files", "leftover .tmp-PID files (dead and reused PIDs)", "removed at the next start", 2)


def test_a_failed_write_removes_its_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    flow = flowkit.build(dim=2, model=flowkit.MLPField(2, width=8, depth=1))
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        ck.write_checkpoint(tmp_path, flow, step=1)
    assert list(tmp_path.iterdir()) == []
    tried("temporary files", "disk full while writing a checkpoint", "temporary file removed")


@pytest.mark.slow
def test_sigterm_releases_the_folder_and_its_temporary_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowkit",
            "train",
            "--steps",
            "100000",
            "--checkpoint-every",
            "1",
            "--out",
            str(out),
            *TINY,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (out / CHECKPOINT_FILE).exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    with RunLock(out) as lock:  # free, and not left by a dead holder
        assert lock.previous_pid is None
    load_checkpoint(out)
    tried(
        "kill",
        "SIGTERM during training with a checkpoint every step",
        "exit 143, lock and temp files released",
    )


# -- 6. the metrics log ------------------------------------------------------------------------------
def test_a_torn_metrics_line_is_dropped_with_a_warning(run_copy: Path) -> None:
    metrics = run_copy / METRICS_FILE
    with open(metrics, "a") as f:
        f.write('{"step": 7, "loss": 0.5')  # a kill mid-append
    with pytest.warns(UserWarning, match=f"{metrics}: dropped its torn last line"):
        assert main([*TRAIN, "--out", str(run_copy), "--steps", "9", "--log-every", "1"]) == 0
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == [6, 7, 8, 9]
    tried("damaged metrics log", "torn last line", "dropped with a warning; resume continues")


def test_a_damaged_metrics_line_names_the_file(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = run_copy / METRICS_FILE
    metrics.write_text('{"step": 6}\nnot json\n{"step": 6}\n')
    fails([*TRAIN, "--out", str(run_copy), "--steps", "9"], capsys, str(metrics), "line 2")
    tried("damaged metrics log", "damaged line before the last", "exit 2 naming the file and line")


# -- every CLI failure a person can cause: one line, exit 2 -----------------------------------------
@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro"
    folder.mkdir()
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    if not made:
        folder.chmod(0o555)
    try:
        try:
            (folder / "probe").touch()
        except OSError:
            yield folder
        else:
            pytest.skip("cannot make a read-only folder here (root without chattr)")
    finally:
        if made:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_read_only_output_is_refused_before_the_work(
    base_run: Path, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fails(["sample", "--checkpoint", str(base_run), "--out", str(read_only / "x.pt")], capsys, str(read_only))
    assert "samples of shape" not in capsys.readouterr().out  # refused before sampling
    capsys.readouterr()
    assert main(["demo", "--out", str(read_only / "demo"), "--steps", "5"]) == 2
    captured = capsys.readouterr()
    assert "trained in" not in captured.out and "flowkit demo:" not in captured.out
    assert str(read_only) in captured.err and len(captured.err.strip().splitlines()) == 1
    fails([*TRAIN, "--out", str(read_only / "run")], capsys, str(read_only))
    tried("CLI failure", "read-only output folder (sample, demo, train)", "exit 2 before the work", 3)


def test_out_of_the_wrong_kind(base_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    fails([*TRAIN, "--out", str(a_file)], capsys, str(a_file), "is a file")
    fails(["demo", "--out", str(a_file)], capsys, str(a_file), "is an existing file")
    a_dir = tmp_path / "dir.pt"
    a_dir.mkdir()
    fails(["sample", "--checkpoint", str(base_run), "--out", str(a_dir)], capsys, "is an existing folder")
    assert a_file.read_text() == "mine"
    tried(
        "CLI failure", "--out naming a file where a folder is expected, or a folder for a file", "exit 2", 3
    )


def test_bad_counts(base_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["eval", "--checkpoint", str(base_run), "--samples", "-1"], "--samples"),
        (["eval", "--checkpoint", str(base_run), "--n", "0"], "--n"),
        (["sample", "--checkpoint", str(base_run), "--n", "0"], "--n"),
        (["demo", "--out", str(tmp_path / "d"), "--n-eval", "0"], "--n-eval"),
        (["demo", "--out", str(tmp_path / "d"), "--grid", "0"], "--grid"),
        (["demo", "--out", str(tmp_path / "d"), "--grid", "1"], "--grid"),
        ([*TRAIN, "--out", str(tmp_path / "t"), "--width", "0"], "--width"),
        ([*TRAIN, "--out", str(tmp_path / "t"), "--data-size", "0"], "--data-size"),
    ]
    for argv, flag in cases:
        fails(argv, capsys, flag)
    assert not (tmp_path / "d").exists() and not (tmp_path / "t").exists()
    tried(
        "CLI failure",
        "zero or negative counts (--n, --samples, --n-eval, --grid, --width, ...)",
        "exit 2",
        len(cases),
    )


def test_eval_on_data_of_another_shape(base_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    fails(["eval", "--checkpoint", str(base_run), "--data", "digits"], capsys, "(64,)", "(2,)", "--data")
    tried("CLI failure", "eval --data digits on a moons run", "exit 2 naming both shapes")


def test_dopri5_giving_up_is_a_solver_error(base_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sample", "--checkpoint", str(base_run), "--n", "5", "--solver", "dopri5"]
    argv += ["--rtol", "1e-12", "--atol", "1e-12", "--solver-option", "max_steps=3"]
    fails(argv, capsys, "dopri5 reached max_steps=3", "field evaluations", "rk4")

    calls = 0

    def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # stiff: dx/dt = -1000 (x - cos t)
        nonlocal calls
        calls += 1
        return -1000.0 * (x - torch.cos(t)[:, None])

    from flowkit.solver import Dopri5

    with pytest.raises(SolverError, match="Loosen rtol/atol") as info:
        Dopri5(rtol=1e-10, atol=1e-10, max_steps=20).solve(field, torch.zeros(4, 2, dtype=torch.float64))
    assert info.value.nfe == calls and f"after {calls} field evaluations" in str(info.value)
    tried("CLI failure", "dopri5 reaching max_steps", "SolverError with the NFE; exit 2 in the CLI", 2)


# -- public-boundary input checks --------------------------------------------------------------------
@pytest.fixture
def flow() -> flowkit.Flow:
    return flowkit.build(
        dim=3, model=flowkit.MLPField(3, width=8, depth=1), solver="euler", solver_options={"steps": 2}
    )


BAD_INPUTS = {
    "wrong feature size": (
        lambda: torch.randn(5, 4),
        ValueError,
        r"must have shape \(batch, 3\) .*; got \(5, 4\)",
    ),
    "1-D tensor": (
        lambda: torch.randn(3),
        ValueError,
        r"must have shape \(batch, 3\).*got \(3,\): a batch dimension",
    ),
    "float64 data, float32 field": (
        lambda: torch.randn(5, 3, dtype=torch.float64),
        TypeError,
        "has dtype torch.float64 but the field",
    ),
    "empty batch": (lambda: torch.randn(0, 3), ValueError, r"is an empty batch, shape \(0, 3\)"),
    "integer data": (
        lambda: torch.ones(5, 3, dtype=torch.long),
        TypeError,
        "must be a floating-point tensor",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_public_methods_name_the_argument_and_the_shapes(flow: flowkit.Flow, case: str) -> None:
    make, error, says = BAD_INPUTS[case]
    for name, call in (
        ("x1", lambda x: flow.loss(x)),
        ("x0", lambda x: flow.sample(x)),
        ("x", lambda x: flow.log_prob(x)),
        ("x", lambda x: flow.solve(x)),
    ):
        with pytest.raises(error, match=f"^{name} {says}"):
            call(make())
    tried(
        "input check",
        f"{case} to loss, sample, solve, log_prob",
        "one line naming argument, expected, given",
        4,
    )


def test_x0_must_match_x1(flow: flowkit.Flow) -> None:
    with pytest.raises(
        ValueError, match=r"x0 must match x1: x1 is torch.float32 \(5, 3\), x0 is torch.float32 \(4, 3\)"
    ):
        flow.loss(torch.randn(5, 3), torch.randn(4, 3))


class AnyOp(TorchDispatchMode):
    """Records every tensor operation dispatched."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_boundary_checks_run_no_tensor_operation(flow: flowkit.Flow) -> None:
    # Shapes and dtypes only: no kernel, so no device sync, whatever the device.
    from flowkit import _boundary

    x = torch.randn(64, 3)
    with AnyOp() as mode:
        _boundary.check_loss(flow, x, x)
        _boundary.check_batch(flow, x, "x")
    assert mode.ops == []
    start = time.perf_counter()
    for _ in range(2000):
        _boundary.check_batch(flow, x, "x")
    per_call = (time.perf_counter() - start) / 2000
    assert per_call < 1e-3  # generous: microseconds in practice (docs/reliability.md quotes the figure)


def test_the_remembered_dtype_follows_the_field(flow: flowkit.Flow) -> None:
    x = torch.randn(5, 3)
    flow.loss(x)  # remembers the field's first parameter
    flow.double()  # converts in place: the remembered parameter is float64 now
    with pytest.raises(
        TypeError, match=r"x1 has dtype torch\.float32 but the field's parameters are torch\.float64"
    ):
        flow.loss(x)
    flow.field.net[0] = torch.nn.Linear(4, 8)  # type: ignore[index]  # replaced by a float32 layer
    flow.float()
    assert flow.loss(x).dtype == torch.float32  # found again, not refused by a stale parameter
