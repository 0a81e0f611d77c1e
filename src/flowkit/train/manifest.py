"""The run manifest: enough about a run to rebuild its ``Flow`` from names and options.

``manifest.json`` in a run folder records the path, solver and objective by
their registered names and constructor options, the field (the default MLP by
its sizes; any other field by its class, which must then be passed back in),
the event shape, the conditioning (present only for a conditional flow: ``num_classes``,
``context_shape`` and the ``cond_dropout`` it was trained with, so ``flowkit sample`` knows
whether guidance and unconditional sampling are meaningful), the data set and the
training configuration:

```json
{"format": "flowkit-run", "version": 1, "flowkit_version": "0.1.0",
 "flow": {"path": {"name": "ot", "options": {"sigma_min": 0.0}},
          "solver": {"name": "dopri5", "options": {"rtol": 1e-05, "atol": 1e-05, "max_steps": 100000}},
          "objective": {"name": "cfm", "options": {}},
          "field": {"type": "mlp", "dim": 2, "width": 256, "depth": 4},
          "event_shape": [2],
          "conditioning": {"num_classes": 8, "context_shape": null, "cond_dropout": 0.1}},
 "data": {"name": "moons", "bin_width": null},
 "config": {"steps": 1000, "batch_size": 256, "...": "..."},
 "world_size": 1}
```

**History is kept.** A resumed run never rewrites what the manifest says the
run was. Settings that do not change what is computed
([`RUN_ONLY_FIELDS`][flowkit.train.config.RUN_ONLY_FIELDS]: more ``steps``,
another ``log_every``, ``checkpoint_every`` or ``device``), another default
solver and another number of processes are allowed; each change is appended to
``"amendments"`` with the step it took effect at:

```json
"amendments": [{"step": 1000, "override": false,
                "changes": {"config.steps": {"old": 1000, "new": 2000}}}]
```

Any other change (``lr``, ``batch_size``, ``seed``, ``warmup_steps``, ...)
is refused with the old and new values, unless the run is resumed with
``override_settings=True``, which records it the same way with
``"override": true``. [`effective_manifest`][flowkit.train.manifest.effective_manifest]
applies the amendments.
"""

import copy
import inspect
import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from .._version import __version__
from ..errors import CheckpointError, CheckpointNotFoundError, CorruptCheckpointError, RunMismatchError
from ..field.base import VectorField
from ..field.mlp import MLPField
from ..flow import Flow
from ..plugin import get_registry
from ..plugin.registry import Kind
from .config import RUN_ONLY_FIELDS, TrainConfig
from .files import MANIFEST_FILE, atomic_write

FORMAT = "flowkit-run"
VERSION = 1
PARTS: tuple[Kind, ...] = ("path", "solver", "objective")


def _json_ready(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def describe_part(kind: Kind, obj: Any) -> dict[str, Any]:
    """``{"name", "options", "rebuildable"}`` for a path, solver or objective instance.

    The name is the one registered for ``type(obj)``; the options are the
    constructor parameters that ``obj`` keeps as attributes of the same name.
    ``rebuildable`` says whether ``registry.create(kind, name, options)`` gives
    an object with the same ``repr`` (false, say, for an ``fm`` objective
    holding a data tensor, or a class that is not registered).
    """
    registry = get_registry()
    cls = type(obj)
    names = [e.name for e in registry.entries() if e.kind == kind and e.cls is cls]
    desc: dict[str, Any] = {
        "name": names[0] if names else None,
        "class": f"{cls.__module__}.{cls.__qualname__}",
    }
    options: dict[str, Any] = {}
    for param in inspect.signature(cls).parameters.values():
        if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and hasattr(obj, param.name):
            value = getattr(obj, param.name)
            value = list(value) if isinstance(value, tuple) else value
            if _json_ready(value):
                options[param.name] = value
    desc["options"] = options
    rebuildable = False
    if names:
        try:
            rebuildable = repr(registry.create(kind, names[0], options)) == repr(obj)
        except Exception:  # a constructor that rejects what we read back
            rebuildable = False
    desc["rebuildable"] = rebuildable
    return desc


def describe_field(field: nn.Module) -> dict[str, Any]:
    """Describe a field: the MLP by its sizes, a registered model by name and options, others by class.

    ``{"type": "mlp", "dim", "width", "depth"}``, ``{"type": "model", "name", "options"}`` (options:
    the constructor parameters the field keeps as attributes of the same name) or
    ``{"type": "custom", "class"}``.
    """
    if type(field) is MLPField:
        linears = [m for m in field.net if isinstance(m, nn.Linear)]
        sizes: dict[str, Any] = {
            "dim": field.dim,
            "width": linears[0].out_features,
            "depth": len(linears) - 1,
        }
        if field.num_classes is not None or field.context_dim is not None:  # unconditional entries unchanged
            sizes.update(num_classes=field.num_classes, context_dim=field.context_dim)
        twin = MLPField(**sizes)
        if {k: v.shape for k, v in twin.state_dict().items()} == {
            k: v.shape for k, v in field.state_dict().items()
        }:
            return {"type": "mlp", **sizes}
    cls = type(field)
    model = _describe_model(field)
    if model is not None:
        return model
    return {"type": "custom", "class": f"{cls.__module__}.{cls.__qualname__}"}


def _describe_model(field: nn.Module) -> dict[str, Any] | None:
    """``{"type": "model", "name", "options"}`` when rebuilding from them gives the same parameter shapes."""
    cls = type(field)
    names = [e.name for e in get_registry().entries() if e.kind == "model" and e.cls is cls]
    if not names or cls is MLPField:
        return None
    options: dict[str, Any] = {}
    for param in inspect.signature(cls).parameters.values():
        if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and hasattr(field, param.name):
            value = getattr(field, param.name)
            value = list(value) if isinstance(value, tuple) else value
            if _json_ready(value):
                options[param.name] = value
    try:
        twin = cls(**options)
    except Exception:  # a constructor that rejects what we read back
        return None
    shapes = {k: v.shape for k, v in field.state_dict().items()}
    if {k: v.shape for k, v in twin.state_dict().items()} != shapes:
        return None
    return {"type": "model", "name": names[0], "options": options}


def describe_flow(flow: Flow) -> dict[str, Any]:
    """The ``"flow"`` entry of a manifest: parts by name and options, field, event shape."""
    desc: dict[str, Any] = {kind: describe_part(kind, getattr(flow, kind)) for kind in PARTS}
    desc["field"] = describe_field(flow.field)
    desc["event_shape"] = None if flow.event_shape is None else list(flow.event_shape)
    if flow.num_classes is not None or flow.context_shape is not None or flow.cond_dropout > 0:
        desc["conditioning"] = {
            "num_classes": flow.num_classes,
            "context_shape": None if flow.context_shape is None else list(flow.context_shape),
            "cond_dropout": flow.cond_dropout,
        }
    return desc


def rebuild_flow(
    desc: dict[str, Any],
    *,
    model: VectorField | None = None,
    overrides: dict[str, Any] | None = None,
    options: dict[str, dict[str, Any] | None] | None = None,
    where: str = "the run",
) -> Flow:
    """Build the ``Flow`` a manifest describes (weights not loaded).

    Args:
        desc: the manifest's ``"flow"`` entry.
        model: the field, required when the run used a custom field class.
        overrides: ``{"solver": "rk4", ...}``: a name or instance to use instead of the recorded one.
        options: ``{"solver": {"steps": 20}}``: options for an overriding name, or, without one,
            changes to the recorded part's options.
        where: how error messages name the run folder.
    """
    overrides = overrides or {}
    options = options or {}
    registry = get_registry()
    parts: dict[str, Any] = {}
    for kind in PARTS:
        if overrides.get(kind) is not None:
            parts[kind] = registry.create(kind, overrides[kind], options.get(kind))
            continue
        part = desc[kind]
        if not part.get("rebuildable", False):
            raise CheckpointError(
                f"the {kind} of {where} ({part.get('class')}) cannot be rebuilt from a registered "
                f"name and options; pass {kind}=... to load it"
            )
        # Options without a name adjust the recorded part, as flow.sample(solver_options=...) does.
        parts[kind] = registry.create(kind, part["name"], {**part["options"], **(options.get(kind) or {})})
    field_desc = desc["field"]
    if model is not None:
        field: VectorField = model
    elif field_desc["type"] == "mlp":
        field = MLPField(
            field_desc["dim"],
            width=field_desc["width"],
            depth=field_desc["depth"],
            num_classes=field_desc.get("num_classes"),
            context_dim=field_desc.get("context_dim"),
        )
    elif field_desc["type"] == "model":
        field = registry.get("model", field_desc["name"]).cls(**field_desc["options"])
    else:
        raise CheckpointError(
            f"{where} trained a custom field ({field_desc.get('class')}); pass model=... "
            "(an instance of that class with the same architecture) to load it"
        )
    event_shape = desc.get("event_shape")
    cond = desc.get("conditioning") or {}
    if cond.get("cond_dropout"):
        parts["objective"].set_cond_dropout(float(cond["cond_dropout"]))
    return Flow(
        field,
        parts["path"],
        parts["solver"],
        parts["objective"],
        event_shape=event_shape,
        num_classes=cond.get("num_classes"),
        context_shape=cond.get("context_shape"),
    )


def mismatches(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two manifests in the flow and the data (``"flow.path: ..."`` lines).

    The solver is left out: it only samples, so a run may be resumed with another.
    """
    out = []
    for section in ("flow", "data"):
        a, b = old.get(section) or {}, new.get(section) or {}
        for key in sorted((set(a) | set(b)) - {"solver"}):
            if a.get(key) != b.get(key):
                out.append(
                    f"{section}.{key}: {json.dumps(a.get(key))} in the folder, {json.dumps(b.get(key))} now"
                )
    return out


UNRECORDED = frozenset({"out", "resume", "progress", "override_settings"})
"""Settings that say how a call was made, not what the run is: neither compared nor recorded."""
SAFE_ELSEWHERE = ("flow.solver", "world_size")
"""Entries outside ``config`` that may change on resume (the solver only samples)."""


def _lookup(manifest: dict[str, Any], key: str) -> Any:
    section, _, name = key.partition(".")
    value = manifest.get(section)
    return (value or {}).get(name) if name else value


def effective_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its ``"amendments"`` applied in order: the settings the run uses now.

    Examples:
        >>> m = {"config": {"steps": 10}, "amendments": [
        ...     {"step": 10, "override": False, "changes": {"config.steps": {"old": 10, "new": 20}}}]}
        >>> effective_manifest(m)["config"]
        {'steps': 20}
    """
    out = copy.deepcopy(manifest)
    for amendment in manifest.get("amendments") or []:
        for key, change in (amendment.get("changes") or {}).items():
            section, _, name = key.partition(".")
            if name:
                if not isinstance(out.get(section), dict):
                    out[section] = {}
                out[section][name] = change["new"]
            else:
                out[section] = change["new"]
    return out


def setting_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(unsafe, safe)``: what differs between two manifests' settings, ``{"config.lr": {"old", "new"}}``.

    ``old`` should be the folder's [`effective_manifest`][flowkit.train.manifest.effective_manifest].
    Safe are the [`RUN_ONLY_FIELDS`][flowkit.train.config.RUN_ONLY_FIELDS] of
    the config, the solver and the number of processes; everything else in
    the config is unsafe. A folder with no recorded config (written by
    ``save_checkpoint``) takes the new one as a safe change.
    """
    unsafe: dict[str, Any] = {}
    safe: dict[str, Any] = {}
    a, b = old.get("config"), new.get("config")
    if a is None and b is not None:
        safe["config"] = {"old": None, "new": b}
    elif a is not None and b is not None:
        for name in sorted((set(a) | set(b)) - UNRECORDED):
            if a.get(name) != b.get(name):
                target = safe if name in RUN_ONLY_FIELDS else unsafe
                target[f"config.{name}"] = {"old": a.get(name), "new": b.get(name)}
    for key in SAFE_ELSEWHERE:
        if _lookup(old, key) != _lookup(new, key):
            safe[key] = {"old": _lookup(old, key), "new": _lookup(new, key)}
    return unsafe, safe


def describe_changes(changes: dict[str, Any]) -> str:
    """``"config.lr 0.001 -> 0.002, ..."`` (the folder's value, then the new one)."""
    return ", ".join(f"{key} {json.dumps(c['old'])} -> {json.dumps(c['new'])}" for key, c in changes.items())


def amend(manifest: dict[str, Any], changes: dict[str, Any], step: int, override: bool) -> dict[str, Any]:
    """A copy of ``manifest`` with one more amendment: ``changes`` taking effect at ``step``."""
    out = copy.deepcopy(manifest)
    entry = {"step": step, "override": override, "changes": changes}
    out["amendments"] = [*(manifest.get("amendments") or []), entry]
    return out


def check_settings(
    directory: Path, old: dict[str, Any], new: dict[str, Any], step: int, override: bool
) -> dict[str, Any] | None:
    """The manifest to write when resuming ``old`` at ``step`` with ``new``'s settings (``None``: unchanged).

    Raises:
        RunMismatchError: a setting that changes what is computed differs and ``override`` is off;
            the message lists each one, the folder's value then the new one.
    """
    unsafe, safe = setting_changes(effective_manifest(old), new)
    if unsafe and not override:
        raise RunMismatchError(
            f"{directory} holds this run at step {step} with other settings, and resuming with these "
            f"would mix them: {describe_changes(unsafe)} (the folder's value -> the new one). Resume "
            "with the folder's values, choose another folder, or pass override_settings=True "
            "(flowkit train --override-settings) to go on with the new values, recorded in "
            f"{MANIFEST_FILE} as an amendment at step {step}"
        )
    changes = unsafe | safe
    if not changes:
        return None
    return amend(old, dict(sorted(changes.items())), step, override=bool(unsafe))


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically."""
    atomic_write(directory / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``manifest.json``; a missing or unreadable one raises a flowkit error naming the file."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path} does not exist: {Path(directory)} is not a flowkit run folder")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"cannot read the run manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptCheckpointError(f"{path} is not a flowkit run manifest (no 'format': '{FORMAT}')")
    return manifest


def make_manifest(
    flow: Flow, config: TrainConfig | None, data: dict[str, Any], world_size: int = 1
) -> dict[str, Any]:
    """The manifest of a run of ``flow`` on ``data`` (``{"name", "bin_width", ...}``)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "flowkit_version": __version__,
        "flow": describe_flow(flow),
        "data": data,
        "config": None if config is None else config.to_dict(),
        "world_size": world_size,
    }


def check_same_run(directory: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Raise ``RunMismatchError`` when the folder's run differs from the new one in flow or data."""
    diff = mismatches(old, new)
    if diff:
        raise RunMismatchError(
            f"{directory} holds another run; choose a new folder. Differences:\n  " + "\n  ".join(diff)
        )
