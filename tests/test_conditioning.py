"""Conditional generation: checks, broadcasting, guidance, dropout, the conditional fm target."""

import math
import warnings
from typing import Any

import pytest
import torch
from torch import Tensor

import flowkit
from flowkit.field.conditioning import NULL_LABEL, drop_conditioning
from flowkit.field.guidance import guided_field
from flowkit.field.marginal import marginal_velocity
from flowkit.objective import FM
from flowkit.objective.cfm import CFM
from flowkit.path import OTPath


def cond_flow(**kw: Any) -> flowkit.Flow:
    options = {"solver": "euler", "solver_options": {"steps": 5}, "dim": 2}
    options.update(kw)
    return flowkit.build(**options)


# -- classifier-free guidance -------------------------------------------------------------------
@pytest.mark.parametrize("w", [0.0, 0.5, 1.0, 2.0, 3.5])
def test_guided_field_is_the_formula_from_two_separate_calls(w: float) -> None:
    field = flowkit.MLPField(2, width=16, depth=2, num_classes=3, context_dim=2)
    t, x = torch.rand(6), torch.randn(6, 2)
    label, context = torch.tensor([0, 1, 2, 0, 1, 2]), torch.randn(6, 2)
    v_cond = field(t, x, label=label, context=context)
    v_null = field(t, x, label=torch.full((6,), NULL_LABEL), context=torch.full((6, 2), math.nan))
    got = guided_field(field, {"label": label, "context": context}, w)(t, x)
    torch.testing.assert_close(got, v_null + w * (v_cond - v_null), rtol=1e-5, atol=1e-6)
    if w == 1.0:
        torch.testing.assert_close(got, v_cond, rtol=1e-5, atol=1e-6)
    if w == 0.0:
        torch.testing.assert_close(got, v_null, rtol=1e-5, atol=1e-6)


def test_guidance_runs_one_batched_call_and_counts_two_evaluations() -> None:
    flow = cond_flow(num_classes=3, objective_options={"cond_dropout": 0.1})
    batches: list[int] = []
    flow.field.register_forward_hook(lambda m, args, kwargs_out: batches.append(args[1].shape[0]))
    flow.sample(4, label=1)
    assert flow.nfe == 5 and batches == [4] * 5
    batches.clear()
    flow.sample(4, label=1, guidance=2.0)
    assert flow.nfe == 10 and batches == [8] * 5  # one doubled batch per step, counted twice
    flow.sample(4, label=1, guidance=2.0, solver="rk4", solver_options={"steps": 3})
    assert flow.nfe == 24


def test_guided_sample_equals_integrating_the_formula_by_hand() -> None:
    flow = cond_flow(num_classes=3, objective_options={"cond_dropout": 0.1})
    x0 = torch.randn(5, 2)
    got = flow.sample(x0, label=2, guidance=1.5)
    x, dt, label, null = x0.clone(), 0.2, torch.full((5,), 2), torch.full((5,), NULL_LABEL)
    with torch.no_grad():
        for k in range(5):
            t = torch.full((5,), k * dt)
            vc, vn = flow.field(t, x, label=label), flow.field(t, x, label=null)
            x = x + dt * (vn + 1.5 * (vc - vn))
    torch.testing.assert_close(got, x, rtol=1e-5, atol=1e-5)


def test_guidance_without_dropout_warns_once_and_still_samples() -> None:
    flow = cond_flow(num_classes=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow.sample(3, label=0, guidance=2.0)
        flow.sample(3, label=0, guidance=2.0)
    assert len([w for w in caught if "cond_dropout" in str(w.message)]) == 1


# -- broadcasting and bad input ----------------------------------------------------------------
def test_one_label_or_context_row_applies_to_every_sample() -> None:
    flow = cond_flow(num_classes=3, context_dim=2)
    x0, c = torch.randn(6, 2), torch.randn(1, 2)
    one = flow.sample(x0, label=torch.tensor([2]), context=c)
    full = flow.sample(x0, label=torch.full((6,), 2), context=c.expand(6, 2))
    torch.testing.assert_close(one, full)
    torch.testing.assert_close(flow.sample(x0, label=2, context=c[0]), full)
    lp = flow.log_prob(torch.randn(6, 2), label=1, context=c, solver="rk4", solver_options={"steps": 2})
    assert lp.shape == (6,)


BAD: list[tuple[dict[str, Any], dict[str, Any], type[Exception], str]] = [
    ({"num_classes": 3}, {"label": 3}, ValueError, r"label must hold class ids in \[0, 3\).*got 3"),
    ({"num_classes": 3}, {"label": -2}, ValueError, r"label must hold class ids in \[0, 3\)"),
    ({"num_classes": 3}, {"label": torch.tensor([0.0, 1.0, 1.0, 2.0])}, TypeError, "label must hold integer"),
    ({}, {"label": 1}, ValueError, "label= was given but this flow was built without num_classes"),
    ({"context_dim": 3}, {"context": torch.randn(4, 2)}, ValueError, r"context must have shape \(4, 3\)"),
    ({"context_dim": 3}, {"context": torch.randn(2, 3)}, ValueError, r"context must have shape \(4, 3\)"),
    (
        {"context_dim": 3},
        {"context": torch.ones(4, 3, dtype=torch.long)},
        TypeError,
        "context must be a float",
    ),
    ({"num_classes": 3}, {"label": torch.tensor([0, 1])}, ValueError, r"label must have shape \(4,\)"),
    ({"num_classes": 3}, {"label": 1, "guidance": -1.0}, ValueError, r"guidance must lie in \[0.0, inf\]"),
    ({"num_classes": 3}, {"label": 1, "guidance": True}, TypeError, "guidance must be a number"),
    ({}, {"guidance": 2.0}, ValueError, "guidance= needs conditioning"),
    ({"num_classes": 3}, {}, ValueError, r"pass label= \(it was trained without cond_dropout"),
    ({"num_classes": 3, "context_dim": 2}, {"label": 1}, ValueError, "pass context="),
]


@pytest.mark.parametrize(("build", "call", "error", "match"), BAD)
def test_bad_conditioning_names_the_argument(
    build: dict[str, Any], call: dict[str, Any], error: type[Exception], match: str
) -> None:
    flow = cond_flow(**build)
    with pytest.raises(error, match=match):
        flow.sample(4, **call)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, math.nan])
def test_cond_dropout_outside_the_unit_interval_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match=r"cond_dropout must lie in \[0.0, 1.0\)"):
        cond_flow(num_classes=3, objective_options={"cond_dropout": p})


def test_loss_and_log_prob_check_the_same_way() -> None:
    flow = cond_flow(context_dim=3)
    with pytest.raises(ValueError, match=r"context must have shape \(4, 3\)"):
        flow.loss(torch.randn(4, 2), context=torch.randn(4, 2))
    with pytest.raises(ValueError, match="pass context="):
        flow.log_prob(torch.randn(4, 2))
    labelled = cond_flow(num_classes=3)
    with pytest.raises(ValueError, match=r"label must hold class ids in \[0, 3\)"):
        labelled.log_prob(torch.randn(2, 2), label=torch.tensor([0, 5]))


def test_conditional_flow_with_dropout_samples_its_unconditional_model_without_conditioning() -> None:
    flow = cond_flow(num_classes=3, objective_options={"cond_dropout": 0.2})
    x0 = torch.randn(5, 2)
    torch.testing.assert_close(flow.sample(x0), flow.sample(x0, label=NULL_LABEL))


# -- dropout -----------------------------------------------------------------------------------
class Recording(flowkit.VectorField):
    """Remembers the conditioning of every call; returns 0 (only what the objective passes matters)."""

    def __init__(self) -> None:
        super().__init__()
        self.num_classes, self.context_shape = 5, (3,)
        self.seen: list[dict[str, Tensor]] = []
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, t: Tensor, x: Tensor, **cond: Any) -> Tensor:
        self.seen.append({k: v.clone() for k, v in cond.items()})
        return x * self.w


class PluginObjective(CFM):
    """A third-party objective: it knows nothing of dropout."""


@pytest.mark.parametrize("objective", ["cfm", "fm", PluginObjective()])
def test_dropout_is_per_sample_with_rate_p_and_writes_the_null_values(objective: Any) -> None:
    p, n = 0.3, 800 if objective == "fm" else 4000  # fm: the batch is its own (n x n) data set
    field = Recording()
    flow = flowkit.build(objective=objective, model=field, dim=2, objective_options={"cond_dropout": p})
    label, context = torch.randint(0, 5, (n,)), torch.randn(n, 3)
    for _ in range(5 if objective != "fm" else 8):
        flow.loss(torch.randn(n, 2), label=label, context=context)
    rates = []
    for cond in field.seen:
        dropped = cond["label"] == NULL_LABEL
        # label and context dropped together; a kept sample keeps its exact values
        assert torch.equal(torch.isnan(cond["context"]).all(1), dropped)
        assert not torch.isnan(cond["context"][~dropped]).any()
        assert torch.equal(cond["label"][~dropped], label[~dropped])
        torch.testing.assert_close(cond["context"][~dropped], context[~dropped])
        rates.append(dropped.float().mean().item())
        assert 0 < dropped.sum() < n  # per sample: never the whole batch
    mean = sum(rates) / len(rates)
    assert abs(mean - p) < 4 * math.sqrt(p * (1 - p) / (n * len(rates)))


def test_drop_conditioning_is_statistically_p_and_leaves_other_keywords() -> None:
    g = torch.Generator().manual_seed(3)
    extra = torch.arange(4)
    out = drop_conditioning({"label": torch.zeros(200_000, dtype=torch.long), "other": extra}, 0.1, g)
    rate = (out["label"] == NULL_LABEL).double().mean().item()
    assert abs(rate - 0.1) < 4 * math.sqrt(0.09 / 200_000)
    assert out["other"] is extra
    assert drop_conditioning({"label": extra}, 0.0)["label"] is extra


def test_null_label_and_nan_context_reach_the_learned_null_embedding_without_nan() -> None:
    field = flowkit.MLPField(2, width=8, depth=1, num_classes=3, context_dim=2)
    t, x = torch.rand(2), torch.randn(2, 2)
    v = field(t, x, label=torch.tensor([NULL_LABEL, 1]), context=torch.tensor([[math.nan] * 2, [1.0, 2.0]]))
    v.sum().backward()
    assert torch.isfinite(v).all()
    assert all(torch.isfinite(p.grad).all() for p in field.parameters() if p.grad is not None)
    # with no keyword the field uses its null values
    torch.testing.assert_close(
        field(t, x), field(t, x, label=torch.full((2,), NULL_LABEL), context=torch.full((2, 2), math.nan))
    )


# -- the conditional marginal field ------------------------------------------------------------
def test_conditional_marginal_field_equals_the_field_of_the_class_subset() -> None:
    path = OTPath(sigma_min=1e-3)
    data, labels = torch.randn(40, 2, dtype=torch.float64), torch.randint(0, 4, (40,))
    labels[:3] = torch.tensor([0, 1, 2])  # every class present... except 3 maybe; force one empty class
    labels[labels == 3] = 2
    t, x = torch.rand(12, dtype=torch.float64), torch.randn(12, 2, dtype=torch.float64)
    query = torch.tensor([0, 1, 2, 3, NULL_LABEL, 0, 1, 2, 0, 1, 2, 0])
    got = marginal_velocity(path, t, x, data, max_elements=16, data_labels=labels, label=query)  # chunked
    for i, y in enumerate(query.tolist()):
        subset = data if y in (NULL_LABEL, 3) else data[labels == y]  # class 3 has no points: everything
        expected = marginal_velocity(path, t[i : i + 1], x[i : i + 1], subset)
        torch.testing.assert_close(got[i : i + 1], expected)


def test_conditional_fm_target_is_zero_loss_for_the_exact_field() -> None:
    path = OTPath(sigma_min=1e-3)
    data, labels = torch.randn(30, 2, dtype=torch.float64), torch.arange(30) % 3
    exact = flowkit.MarginalField(path, data, labels=labels)
    objective = FM(data=data, labels=labels)
    assert float(objective(exact, path, data[:9], label=labels[:9])) < 1e-20
    unconditional = flowkit.MarginalField(path, data)
    ignoring = lambda t, x, **cond: unconditional(t, x)  # noqa: E731 - the field of all classes
    assert float(objective(ignoring, path, data[:9], label=labels[:9])) > 1e-3


def test_conditional_fm_memorises_each_class_with_dopri5() -> None:
    path = OTPath(sigma_min=1e-3)
    g = torch.Generator().manual_seed(0)
    data = torch.randn(12, 2, generator=g, dtype=torch.float64) * 2
    labels = torch.arange(12) % 3
    flow = flowkit.build(
        path=path, solver="dopri5", model=flowkit.MarginalField(path, data, labels=labels), dim=2
    ).double()
    for k in range(3):
        x1 = flow.sample(torch.randn(20, 2, generator=g, dtype=torch.float64), label=k)
        nearest = torch.cdist(x1, data).argmin(dim=1)
        assert torch.all(labels[nearest] == k)
        assert torch.cdist(x1, data).min(dim=1).values.max() < 0.02


def test_labelled_eight_gaussians_guidance_with_the_exact_conditional_field() -> None:
    data, labels = flowkit.data.load_dataset(
        "8gaussians", 240, generator=torch.Generator().manual_seed(0), with_labels=True
    )
    path = OTPath(sigma_min=1e-3)
    field = flowkit.MarginalField(path, data.double(), labels=labels)
    flow = flowkit.build(
        path=path,
        solver="rk4",
        solver_options={"steps": 16},
        model=field,
        dim=2,
        objective_options={"cond_dropout": 0.1},
    ).double()
    centres = (
        2
        * math.sqrt(2)
        * torch.stack(
            [torch.cos(torch.arange(8) * math.pi / 4), torch.sin(torch.arange(8) * math.pi / 4)], 1
        ).double()
    )
    x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    faithful = {}
    for w in (0.0, 1.0, 3.0):
        hits, modes_hit = [], set()
        for k in (0, 3, 6):
            x1 = flow.sample(x0, label=k, guidance=w)
            mode = torch.cdist(x1, centres).argmin(dim=1)
            hits.append((mode == k).double().mean().item())
            modes_hit |= set(mode.tolist())
        faithful[w] = sum(hits) / len(hits)
        if w == 0.0:
            assert len(modes_hit) == 8  # unconditional: spread over all modes
    assert faithful[1.0] > 0.98 and faithful[0.0] < 0.3
    assert faithful[3.0] >= faithful[1.0] - 0.01
