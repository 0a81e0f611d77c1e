"""Checkpoints in safetensors, written atomically, and loading a run back.

A checkpoint (``DIR/checkpoint.safetensors``; see [`flowkit.train.files`][flowkit.train.files])
holds tensors under ``model/`` (the flow's ``state_dict``), ``ema/`` (the EMA
flow's), ``optim/<param>/<name>`` (optimizer state), ``rng/<rank>/cpu`` and
``rng/<rank>/cuda`` (each process's generators) and ``data/<rank>/...``
(each process's data-sampler generators); its safetensors metadata holds the
step, the optimizer's hyperparameters and the data positions as JSON. It is
written with [`atomic_write`][flowkit.train.files.atomic_write], so a crash at
any moment leaves either the old or the new checkpoint, never a torn one.
"""

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import Tensor

from ..errors import CheckpointNotFoundError, CorruptCheckpointError
from ..field.base import VectorField
from ..flow import Flow
from . import manifest as mf
from .config import TrainConfig
from .files import CHECKPOINT_FILE, MANIFEST_FILE, atomic_write
from .manifest import check_same_run, make_manifest, read_manifest, write_manifest

FORMAT = "flowkit-checkpoint"
VERSION = 1


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
    """Write ``checkpoint.safetensors`` atomically; ``rng`` and ``data`` hold one entry per rank."""
    tensors = _flat("model", flow.state_dict())
    if ema_flow is not None:
        tensors |= _flat("ema", ema_flow.state_dict())
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
    header = {"format": FORMAT, "version": str(VERSION)} | {k: json.dumps(v) for k, v in meta.items()}
    path = directory / CHECKPOINT_FILE
    atomic_write(path, safetensors.torch.save(tensors, metadata=header))
    return path


def read_checkpoint(directory: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and the decoded metadata of ``DIR/checkpoint.safetensors``, with clear errors."""
    directory = Path(directory)
    path = directory / CHECKPOINT_FILE
    if not directory.is_dir():
        raise CheckpointNotFoundError(f"no run folder at {directory}")
    if not path.is_file():
        has_run = (directory / MANIFEST_FILE).is_file()
        why = "the run has not written a checkpoint yet" if has_run else "it is not a flowkit run folder"
        raise CheckpointNotFoundError(f"no checkpoint in {directory} ({path.name} is missing: {why})")
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # safe_open is not a dict
        if header.get("format") != FORMAT:
            raise ValueError(f"no 'format': '{FORMAT}' in its metadata")
        meta = {k: json.loads(v) for k, v in header.items() if k not in ("format", "version")}
        if not isinstance(meta.get("step"), int):
            raise ValueError("its metadata holds no step")
    except Exception as exc:
        raise CorruptCheckpointError(f"cannot read the checkpoint {path}: {exc}") from exc
    return tensors, meta


# -- public API ----------------------------------------------------------------------------------
@dataclass
class CheckpointState:
    """What [`load_checkpoint`][flowkit.train.load_checkpoint] found besides the flows.

    Attributes:
        step: the training step the checkpoint was taken at.
        manifest: the run manifest (see [`flowkit.train.manifest`][flowkit.train.manifest]).
        config: the run's training configuration, when recorded.
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

    Writes ``manifest.json`` if the folder has none (and refuses a folder that
    holds another run), then ``checkpoint.safetensors`` atomically with this
    process's generator states. [`train`][flowkit.train.train] does all of
    this itself.

    Returns:
        The checkpoint file.

    Raises:
        RunMismatchError: the folder holds a run of another flow or data set.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
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
        CorruptCheckpointError: a file that cannot be parsed (the message names it).
        CheckpointError: the flow cannot be rebuilt without ``model=`` or a part override.
    """
    tensors, meta = read_checkpoint(directory)
    manifest = read_manifest(directory)
    overrides = {"path": path, "solver": solver, "objective": objective}
    options = {"path": path_options, "solver": solver_options, "objective": objective_options}
    flows = []
    for prefix in ("model", "ema"):
        flow = mf.rebuild_flow(
            manifest["flow"], model=model, overrides=overrides, options=options, where=str(directory)
        )
        if prefix == "ema" and model is not None:  # one instance cannot hold two sets of weights
            flow.field = copy.deepcopy(flow.field)
        weights = section(tensors, prefix) or section(tensors, "model")
        try:
            flow.load_state_dict(weights)
        except RuntimeError as exc:
            raise CorruptCheckpointError(
                f"the weights in {Path(directory) / CHECKPOINT_FILE} do not fit the flow "
                f"its manifest describes: {exc}"
            ) from exc
        flows.append(flow.to(device))
    flows[1].eval()
    config_dict = manifest.get("config")
    state = CheckpointState(
        step=int(meta["step"]),
        manifest=manifest,
        config=None if config_dict is None else TrainConfig.from_dict(config_dict),
        data_name=(manifest.get("data") or {}).get("name"),
        file=Path(directory) / CHECKPOINT_FILE,
        tensors=tensors,
        meta=meta,
    )
    return flows[0], flows[1], state
