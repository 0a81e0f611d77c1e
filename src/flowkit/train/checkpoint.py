"""Checkpoints in safetensors, written atomically, and loading a run back.

A checkpoint (``DIR/checkpoint.safetensors``; see [`flowkit.train.files`][flowkit.train.files])
holds tensors under ``model/`` (the flow's ``state_dict``), ``ema/`` (the EMA
flow's), ``optim/<param>/<name>`` (optimizer state), ``rng/<rank>/cpu`` and
``rng/<rank>/cuda`` (each process's generators) and ``data/<rank>/...``
(each process's data-sampler generators); its safetensors metadata holds the
step, the optimizer's hyperparameters and the data positions as JSON, and a
``checksum``: SHA-256 over every tensor's name, dtype, shape and bytes. It is
written with [`atomic_write`][flowkit.train.files.atomic_write], so a crash at
any moment leaves either the old or the new checkpoint, never a torn one.

**Integrity.** A checkpoint is never written with a NaN or infinite weight
(``NonFiniteWeightsError`` names the tensor). Reading one parses the
safetensors format only (never pickle, so no code in the file can run), checks
the format marker, the step, the checksum, and that every floating-point
tensor is finite; loading it into a flow then checks that the ``model/`` and
``ema/`` tensors are exactly the flow's, by name, shape and dtype. Each
failure is a ``CorruptCheckpointError`` naming the file and what is wrong.
"""

import copy
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import Tensor

from ..errors import CheckpointNotFoundError, CorruptCheckpointError, NonFiniteWeightsError
from ..field.base import VectorField
from ..flow import Flow
from . import manifest as mf
from .config import TrainConfig
from .files import CHECKPOINT_FILE, MANIFEST_FILE, atomic_write
from .integrity import first_non_finite, tensors_checksum
from .lock import RunLock
from .manifest import check_same_run, make_manifest, read_manifest, write_manifest

FORMAT = "flowkit-checkpoint"
VERSION = 2
"""Version 2 adds the tensor checksum (required) and always holds ``ema/``."""
HEADER_KEYS = ("format", "version", "checksum")
"""Metadata entries stored as plain strings; every other entry is JSON."""


def _header(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's bytes (its first 8 bytes give the header length)."""
    if len(data) < 8:
        raise ValueError(f"it is {len(data)} bytes long, too short for a safetensors header")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise ValueError(f"its header claims {size} bytes but the file holds {len(data) - 8} after it")
    header = json.loads(data[8 : 8 + size])
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


# -- packing state into flat tensors + JSON metadata --------------------------------------------
def pack_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimizer's ``state_dict`` into tensors (``optim/<i>/<name>``) and JSON."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, per_param in sd["state"].items():
        for name, value in per_param.items():
            if isinstance(value, Tensor):
                tensors[f"optim/{idx}/{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unpack_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> None:
    """Inverse of [`pack_optimizer`][flowkit.train.checkpoint.pack_optimizer], into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    groups = meta["param_groups"]
    for saved, current in zip(groups, optimizer.param_groups):  # JSON made tuples into lists
        for key, value in saved.items():
            if isinstance(current.get(key), tuple) and isinstance(value, list):
                saved[key] = tuple(value)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_state(device: torch.device) -> dict[str, Tensor]:
    """This process's global generator states: ``cpu`` and, on a CUDA device, ``cuda``."""
    out = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def set_rng_state(state: dict[str, Tensor], device: torch.device) -> None:
    """Restore what [`rng_state`][flowkit.train.checkpoint.rng_state] returned."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _flat(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}/{k}": v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def section(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries under ``prefix/``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + "/")}


def write_checkpoint(
    directory: Path,
    flow: Flow,
    *,
    step: int,
    ema_flow: Flow | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    rng: list[dict[str, Tensor]] | None = None,
    data: list[tuple[dict[str, Any], dict[str, Tensor]]] | None = None,
) -> Path:
    """Write ``checkpoint.safetensors`` atomically; ``rng`` and ``data`` hold one entry per rank.

    Without ``ema_flow`` the ``ema/`` entries hold the flow's own weights.

    Raises:
        NonFiniteWeightsError: a weight (or optimizer state) is NaN or infinite; nothing is written.
    """
    tensors = _flat("model", flow.state_dict())
    if ema_flow is not None:
        tensors |= _flat("ema", ema_flow.state_dict())
    else:  # copies: safetensors refuses tensors that share memory
        tensors |= {f"ema/{k[len('model/') :]}": v.clone() for k, v in tensors.items()}
    meta: dict[str, Any] = {"step": step, "optimizer": None, "data": None}
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = pack_optimizer(optimizer)
        tensors |= _flat("optim", {k[len("optim/") :]: v for k, v in opt_tensors.items()})
    for rank, states in enumerate(rng or []):
        tensors |= _flat(f"rng/{rank}", states)
    if data is not None:
        meta["data"] = [position for position, _ in data]
        for rank, (_, data_tensors) in enumerate(data):
            tensors |= _flat(f"data/{rank}", data_tensors)
    path = directory / CHECKPOINT_FILE
    bad = first_non_finite(tensors)
    if bad is not None:
        name, nans, infs = bad
        raise NonFiniteWeightsError(
            f"refusing to write the checkpoint {path} at step {step}: {name} holds {nans} NaN and "
            f"{infs} infinite values (the checkpoint already on disk is kept)",
            tensor=name,
        )
    header = {"format": FORMAT, "version": str(VERSION), "checksum": tensors_checksum(tensors)}
    header |= {k: json.dumps(v) for k, v in meta.items()}
    atomic_write(path, safetensors.torch.save(tensors, metadata=header))
    return path


def read_checkpoint(directory: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and the decoded metadata of ``DIR/checkpoint.safetensors``, verified.

    The file is read once, so a checkpoint replaced meanwhile is seen whole,
    old or new. Checked: the safetensors format (never unpickled), the flowkit
    format marker and version, a step that is a non-negative integer, the
    checksum, and that every floating-point tensor is finite.

    Raises:
        CheckpointNotFoundError: no folder or no checkpoint in it.
        CorruptCheckpointError: any check failed; the message names the file and the check.
        NonFiniteWeightsError: a tensor holds NaN or infinite values; the message names it.
    """
    directory = Path(directory)
    path = directory / CHECKPOINT_FILE
    if not directory.is_dir():
        raise CheckpointNotFoundError(f"no run folder at {directory}")
    if not path.is_file():
        has_run = (directory / MANIFEST_FILE).is_file()
        why = "the run has not written a checkpoint yet" if has_run else "it is not a flowkit run folder"
        raise CheckpointNotFoundError(f"no checkpoint in {directory} ({path.name} is missing: {why})")
    try:
        data = path.read_bytes()
        header = _header(data)
        tensors = safetensors.torch.load(data)
        if header.get("format") != FORMAT:
            raise ValueError(f"no 'format': '{FORMAT}' in its metadata: it was not written by flowkit")
        version = header.get("version")
        if version != str(VERSION):
            raise ValueError(f"its format version is {version!r}; this flowkit reads version {VERSION}")
        meta = {k: json.loads(v) for k, v in header.items() if k not in HEADER_KEYS}
        step = meta.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"its step must be a non-negative integer; got {step!r}")
        stored, computed = header.get("checksum"), tensors_checksum(tensors)
        if stored != computed:
            raise ValueError(
                f"its tensors do not match their checksum (stored {str(stored)[:19]}..., computed "
                f"{computed[:19]}...): the file changed after it was written"
            )
    except Exception as exc:
        raise CorruptCheckpointError(f"cannot read the checkpoint {path}: {exc}") from exc
    bad = first_non_finite(tensors)
    if bad is not None:
        name, nans, infs = bad
        raise NonFiniteWeightsError(
            f"the checkpoint {path} (step {step}) cannot be used: {name} holds {nans} NaN and {infs} "
            "infinite values",
            tensor=name,
        )
    return tensors, meta


def check_fits(flow: Flow, tensors: dict[str, Tensor], file: Path, prefixes: tuple[str, ...]) -> None:
    """Raise ``CorruptCheckpointError`` unless each ``prefix/`` section holds exactly ``flow``'s tensors.

    Names, shapes and dtypes must all match: a checkpoint is never cast or
    partly loaded into a flow.
    """
    own = flow.state_dict()
    for prefix in prefixes:
        saved = section(tensors, prefix)
        missing = sorted(set(own) - set(saved))
        extra = sorted(set(saved) - set(own))
        if missing or extra:
            what = f"lacks {prefix}/{missing[0]}" if missing else f"holds an unknown {prefix}/{extra[0]}"
            count = (
                f" ({len(missing)} missing, {len(extra)} unknown)" if len(missing) + len(extra) > 1 else ""
            )
            raise CorruptCheckpointError(
                f"the checkpoint {file} does not fit the flow its manifest describes: it {what}{count}"
            )
        for name, value in own.items():
            got = saved[name]
            if got.shape != value.shape or got.dtype != value.dtype:
                raise CorruptCheckpointError(
                    f"the checkpoint {file} does not fit the flow: {prefix}/{name} is {got.dtype} "
                    f"{tuple(got.shape)}, the flow's is {value.dtype} {tuple(value.shape)}"
                )


# -- public API ----------------------------------------------------------------------------------
@dataclass
class CheckpointState:
    """What [`load_checkpoint`][flowkit.train.load_checkpoint] found besides the flows.

    Attributes:
        step: the training step the checkpoint was taken at.
        manifest: the run manifest as written, amendments included (see
            [`flowkit.train.manifest`][flowkit.train.manifest]).
        config: the run's training configuration with its amendments applied, when recorded.
        data_name: the data set name, when recorded.
        file: the checkpoint file.
        tensors: every tensor in the checkpoint (model, EMA, optimizer, generators).
        meta: the decoded checkpoint metadata (step, optimizer hyperparameters, data positions).
    """

    step: int
    manifest: dict[str, Any]
    config: TrainConfig | None
    data_name: str | None
    file: Path
    tensors: dict[str, Tensor] = field(repr=False, default_factory=dict)
    meta: dict[str, Any] = field(repr=False, default_factory=dict)


def save_checkpoint(
    directory: str | os.PathLike[str],
    flow: Flow,
    ema_flow: Flow | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    step: int = 0,
    config: TrainConfig | None = None,
    data_name: str | None = None,
) -> Path:
    """Save ``flow`` (and its EMA twin and optimizer) into a run folder, for hand-written loops.

    Holds the folder's [`RunLock`][flowkit.train.lock.RunLock] while it writes
    ``manifest.json`` if the folder has none (and refuses a folder that holds
    another run), then ``checkpoint.safetensors`` atomically with this
    process's generator states. [`train`][flowkit.train.train] does all of
    this itself.

    Returns:
        The checkpoint file.

    Raises:
        RunMismatchError: the folder holds a run of another flow or data set.
        RunLockedError: another process is training into the folder.
        NonFiniteWeightsError: a weight is NaN or infinite (nothing is written).
    """
    directory = Path(directory)
    with RunLock(directory):
        new = make_manifest(flow, config, {"name": data_name})
        if (directory / MANIFEST_FILE).is_file():
            check_same_run(directory, read_manifest(directory), new)
        else:
            write_manifest(directory, new)
        device = next((p.device for p in flow.parameters()), torch.device("cpu"))
        return write_checkpoint(
            directory, flow, step=step, ema_flow=ema_flow, optimizer=optimizer, rng=[rng_state(device)]
        )


def load_checkpoint(
    directory: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    model: VectorField | None = None,
    path: Any = None,
    solver: Any = None,
    objective: Any = None,
    path_options: dict[str, Any] | None = None,
    solver_options: dict[str, Any] | None = None,
    objective_options: dict[str, Any] | None = None,
) -> tuple[Flow, Flow, CheckpointState]:
    """Rebuild a run's flow from its manifest and load the latest checkpoint's weights.

    Args:
        directory: the run folder.
        device: where to put the flows.
        model: the field, needed only when the run trained a custom field class.
        path: a name or instance to use instead of the recorded path; likewise
            ``solver`` and ``objective``, with ``*_options`` for names.

    Returns:
        ``(flow, ema_flow, state)``: the last weights, the EMA weights (use
        these to sample) and a [`CheckpointState`][flowkit.train.checkpoint.CheckpointState].

    Raises:
        CheckpointNotFoundError: no such folder, no manifest or no checkpoint in it.
        CorruptCheckpointError: a file that cannot be parsed, fails its checksum or does not
            fit the flow (the message names it).
        NonFiniteWeightsError: a tensor holds NaN or infinite values (the message names it).
        CheckpointError: the flow cannot be rebuilt without ``model=`` or a part override.
    """
    tensors, meta = read_checkpoint(directory)
    manifest = read_manifest(directory)
    current = mf.effective_manifest(manifest)  # the settings with the amendments of resumed runs
    overrides = {"path": path, "solver": solver, "objective": objective}
    options = {"path": path_options, "solver": solver_options, "objective": objective_options}
    flows = []
    for prefix in ("model", "ema"):
        flow = mf.rebuild_flow(
            current["flow"], model=model, overrides=overrides, options=options, where=str(directory)
        )
        if prefix == "ema" and model is not None:  # one instance cannot hold two sets of weights
            flow.field = copy.deepcopy(flow.field)
        check_fits(flow, tensors, Path(directory) / CHECKPOINT_FILE, (prefix,))
        flow.load_state_dict(section(tensors, prefix))
        flows.append(flow.to(device))
    flows[1].eval()
    config_dict = current.get("config")
    state = CheckpointState(
        step=int(meta["step"]),
        manifest=manifest,
        config=None if config_dict is None else TrainConfig.from_dict(config_dict),
        data_name=(current.get("data") or {}).get("name"),
        file=Path(directory) / CHECKPOINT_FILE,
        tensors=tensors,
        meta=meta,
    )
    return flows[0], flows[1], state
