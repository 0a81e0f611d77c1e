"""The registry: names of paths, solvers, objectives and models, each with the plugin that gave it."""

import difflib
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import DuplicateNameError, OptionError, PluginError, UnknownNameError
from ..field.base import VectorField
from ..objective.base import Objective
from ..path.base import ProbabilityPath
from ..solver.base import Solver

Kind = Literal["path", "solver", "objective", "model"]
INTERFACES: dict[str, type] = {
    "path": ProbabilityPath,
    "solver": Solver,
    "objective": Objective,
    "model": VectorField,
}


@dataclass(frozen=True)
class Source:
    """Where a registration came from."""

    plugin: str
    """The plugin's name in the manager (its module, for entry-point plugins)."""
    distribution: str | None = None
    """The installed distribution that declared the entry point, if any."""
    version: str | None = None
    """That distribution's version."""

    def __str__(self) -> str:
        if self.distribution is None:
            return self.plugin
        return f"{self.distribution} {self.version or ''} ({self.plugin})".replace("  ", " ")

    @property
    def builtin(self) -> bool:
        """Whether this is flowkit's own registration."""
        return self.distribution == BUILTIN_DISTRIBUTION


BUILTIN_DISTRIBUTION = "flowkit"
"""The distribution name of flowkit's own registrations."""


@dataclass(frozen=True)
class Clash:
    """A name claimed by more than one plugin.

    Between two third-party plugins the name is unusable until one is blocked
    or uninstalled; a claim on one of flowkit's own names is refused and the
    built-in keeps the name.
    """

    kind: str
    name: str
    sources: tuple[Source, ...]
    """Every claimant, in registration order."""
    kept: Source | None
    """The built-in that kept the name, or ``None`` when the name is unusable."""

    def message(self) -> str:
        """What happened, naming every distribution, and how to pick or block one."""
        ordered = sorted(self.sources, key=str)
        names = " and ".join(str(s) for s in ordered)
        if self.kept is not None:
            others = ", ".join(str(s) for s in self.sources if s != self.kept)
            return (
                f"{self.kind} {self.name!r} is flowkit's own; the claim by {others} was refused. "
                f"Rename it in that plugin"
            )
        block = " or ".join(f"FLOWKIT_BLOCK_PLUGINS={s.distribution or s.plugin}" for s in ordered)
        return (
            f"{self.kind} {self.name!r} is registered by {names}, so the name is unusable. "
            f"Pick one by passing an instance of its class ({self.kind}=TheClass(...)), block one "
            f"({block}), or uninstall one"
        )


@dataclass(frozen=True)
class Entry:
    """One registered name."""

    kind: str
    name: str
    cls: type
    source: Source


class Registry:
    """Names of every registered path, solver and objective.

    Plugins receive this object in their ``flowkit_register`` hook and call
    ``add_path``, ``add_solver`` or ``add_objective``. Users look names up
    through [`flowkit.build`][flowkit.build] or [`flowkit.available`][flowkit.available].
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        self._clashes: dict[tuple[str, str], Clash] = {}
        self._source: Source | None = None

    # -- registration (called by plugins) -------------------------------------------------------
    def add_path(self, name: str, cls: type[ProbabilityPath]) -> None:
        """Register a [`ProbabilityPath`][flowkit.ProbabilityPath] subclass under ``name``."""
        self._add("path", name, cls)

    def add_solver(self, name: str, cls: type[Solver]) -> None:
        """Register a [`Solver`][flowkit.Solver] subclass under ``name``."""
        self._add("solver", name, cls)

    def add_objective(self, name: str, cls: type[Objective]) -> None:
        """Register an [`Objective`][flowkit.Objective] subclass under ``name``."""
        self._add("objective", name, cls)

    def add_model(self, name: str, cls: type[VectorField]) -> None:
        """Register a [`VectorField`][flowkit.VectorField] subclass under ``name`` for ``build(model=name)``.

        The builder constructs it as ``cls(shape=event_shape, num_classes=..., context_dim=...,
        **model_options)``, or through ``cls.from_shape(event_shape, num_classes=..., context_dim=...,
        **model_options)`` when the class defines that classmethod.
        """
        self._add("model", name, cls)

    def _add(self, kind: str, name: str, cls: type) -> None:
        source = self._source or Source(plugin="<direct>")
        interface = INTERFACES[kind]
        if not isinstance(name, str) or not name:
            raise PluginError(f"{source}: a {kind} name must be a non-empty string; got {name!r}")
        if not (isinstance(cls, type) and issubclass(cls, interface)):
            raise PluginError(
                f"{source}: {kind} {name!r} must be a subclass of flowkit.{interface.__name__}; got {cls!r}"
            )
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise PluginError(f"{source}: {kind} {name!r} ({cls.__qualname__}) leaves abstract: {missing}")
        if kind == "solver":
            order = getattr(cls, "order", None)
            if isinstance(order, bool) or not isinstance(order, int) or order < 1:
                raise PluginError(
                    f"{source}: solver {name!r} ({cls.__qualname__}) must declare its order of accuracy "
                    f"as a class attribute, a positive integer (order = 2); got {order!r}"
                )
        key = (kind, name)
        entry = Entry(kind=kind, name=name, cls=cls, source=source)
        clash = self._clashes.get(key)
        previous = self._entries.get(key)
        if clash is None and previous is None:
            self._entries[key] = entry
            return
        sources = (*(clash.sources if clash else (previous.source,)), source)  # type: ignore[union-attr]
        builtins = [s for s in sources if s.builtin]
        kept = builtins[0] if len(builtins) == 1 else None
        self._clashes[key] = Clash(kind=kind, name=name, sources=sources, kept=kept)
        if kept is None:
            self._entries.pop(key, None)
        elif source is kept:
            self._entries[key] = entry

    def clashes(self) -> list[Clash]:
        """Names claimed by more than one plugin, sorted by kind then name."""
        return sorted(self._clashes.values(), key=lambda c: (c.kind, c.name))

    @contextmanager
    def _registering_as(self, source: Source) -> Iterator[None]:
        entries, clashes = dict(self._entries), dict(self._clashes)
        self._source = source
        try:
            yield
        except BaseException:
            # A failing plugin leaves nothing half-registered behind (nor half a clash).
            self._entries, self._clashes = entries, clashes
            raise
        finally:
            self._source = None

    # -- look-up --------------------------------------------------------------------------------
    def names(self, kind: Kind, *, distribution: str | None = None) -> list[str]:
        """Sorted names registered for ``kind``; only those from ``distribution`` when given.

        ``names("solver", distribution="flowkit")`` lists flowkit's own solvers,
        whatever else is installed.
        """
        return sorted(
            name
            for (k, name), e in self._entries.items()
            if k == kind and (distribution is None or e.source.distribution == distribution)
        )

    def entries(self) -> list[Entry]:
        """Every registration, sorted by kind then name."""
        return sorted(self._entries.values(), key=lambda e: (e.kind, e.name))

    def get(self, kind: Kind, name: str) -> Entry:
        """The entry for ``name``; an unknown name raises with the alternatives and the closest one."""
        if kind not in INTERFACES:
            raise ValueError(f"kind must be one of {sorted(INTERFACES)}; got {kind!r}")
        clash = self._clashes.get((kind, name))
        if clash is not None and clash.kept is None:
            raise DuplicateNameError(clash.message())
        try:
            return self._entries[(kind, name)]
        except KeyError:
            known = self.names(kind)
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(
                f"unknown {kind} {name!r}; available: {', '.join(known) or 'none'}.{hint}"
            ) from None

    def create(self, kind: Kind, spec: Any, options: Mapping[str, Any] | None = None) -> Any:
        """Instantiate ``spec`` (a registered name or an instance) with ``options``.

        Options are checked against the constructor before it runs, so a typo
        names itself and the accepted options instead of failing deep inside.
        """
        interface = INTERFACES[kind]
        options = dict(options or {})
        if isinstance(spec, interface):
            if options:
                raise OptionError(
                    f"{kind}_options were given ({', '.join(options)}) with a {kind} instance; "
                    f"pass options to its constructor instead"
                )
            return spec
        if not isinstance(spec, str):
            raise TypeError(
                f"{kind} must be a registered name or a flowkit.{interface.__name__} instance; "
                f"got {type(spec).__name__}"
            )
        cls = self.get(kind, spec).cls
        check_options(cls, options, f"{kind} {spec!r}")
        return cls(**options)


def check_options(cls: type, options: Mapping[str, Any], what: str) -> None:
    """Raise ``OptionError`` for any option ``cls.__init__`` does not accept."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise OptionError(
                f"unknown option {key!r} for {what}; accepted: {', '.join(accepted) or 'none'}.{hint}"
            )
