"""Couplings: chunks equal one batch, resuming is exact, and mismatched data sets are refused."""

from pathlib import Path

import pytest
import torch
from flowkit_fewstep import Couplings, generate_couplings, load_couplings, train_on_pairs

import flowkit


@pytest.fixture
def flow() -> flowkit.Flow:
    torch.manual_seed(0)
    return flowkit.build(
        model=flowkit.MLPField(2, width=16, depth=2), solver="rk4", solver_options={"steps": 5}, dim=2
    )


def test_chunks_equal_one_big_batch(flow: flowkit.Flow) -> None:
    one = generate_couplings(flow, 100, chunk_size=100, seed=3)
    chunked = generate_couplings(flow, 100, chunk_size=7, seed=3)
    assert torch.equal(one.x0, chunked.x0)
    torch.testing.assert_close(chunked.x1, one.x1, rtol=0, atol=1e-6)  # row-wise the same arithmetic
    # and x1 is the flow's sample of x0, solved independently here
    torch.testing.assert_close(one.x1, flow.sample(one.x0), rtol=0, atol=1e-6)


def test_adaptive_solver_chunks_agree_to_its_tolerance(flow: flowkit.Flow) -> None:
    opts = {"rtol": 1e-6, "atol": 1e-6}
    one = generate_couplings(flow, 64, chunk_size=64, solver="dopri5", solver_options=opts)
    chunked = generate_couplings(flow, 64, chunk_size=16, solver="dopri5", solver_options=opts)
    torch.testing.assert_close(chunked.x1, one.x1, rtol=0, atol=1e-4)


def test_resume_is_exact(flow: flowkit.Flow, tmp_path: Path) -> None:
    whole = generate_couplings(flow, 50, tmp_path / "a", chunk_size=8, seed=1)
    part = generate_couplings(flow, 50, tmp_path / "b", chunk_size=8, seed=1, max_chunks=3)
    assert len(part) == 24
    with pytest.raises(ValueError, match="incomplete: 4 of 7 chunks missing"):
        load_couplings(tmp_path / "b")
    chunk0 = (tmp_path / "b" / "chunk-00000.pt").stat().st_mtime_ns
    resumed = generate_couplings(flow, 50, tmp_path / "b", chunk_size=8, seed=1)
    assert (tmp_path / "b" / "chunk-00000.pt").stat().st_mtime_ns == chunk0  # not solved again
    loaded = load_couplings(tmp_path / "b", event_shape=(2,))
    for got in (resumed, loaded):
        assert torch.equal(got.x0, whole.x0) and torch.equal(got.x1, whole.x1)
    assert not list((tmp_path / "b").glob("*.tmp"))


def test_other_arguments_are_refused(flow: flowkit.Flow, tmp_path: Path) -> None:
    generate_couplings(flow, 10, tmp_path, chunk_size=5, seed=1)
    with pytest.raises(ValueError, match=r"other arguments .*seed: 1 there, 2 now"):
        generate_couplings(flow, 10, tmp_path, chunk_size=5, seed=2)


def test_a_data_set_of_another_shape_is_refused(flow: flowkit.Flow, tmp_path: Path) -> None:
    generate_couplings(flow, 10, tmp_path, chunk_size=5)
    with pytest.raises(ValueError, match=r"samples of shape \(2,\) but the flow was built for \(3,\)"):
        load_couplings(tmp_path, event_shape=(3,))
    other = flowkit.build(model=flowkit.MLPField(3, width=8, depth=1), dim=3)
    with pytest.raises(ValueError, match=r"samples of shape \(2,\) but the flow was built for \(3,\)"):
        train_on_pairs(other, load_couplings(tmp_path))
    with pytest.raises(FileNotFoundError, match="holds no coupling data set"):
        load_couplings(tmp_path / "nothing")
    with pytest.raises(ValueError, match="one shape"):
        Couplings(torch.zeros(3, 2), torch.zeros(3, 3))


def test_items_are_data_then_source(flow: flowkit.Flow) -> None:
    pairs = generate_couplings(flow, 6, chunk_size=4)
    x1, x0 = pairs[2]
    assert torch.equal(x1, pairs.x1[2]) and torch.equal(x0, pairs.x0[2]) and len(pairs) == 6


def test_bad_arguments(flow: flowkit.Flow) -> None:
    with pytest.raises(ValueError, match="n must be a positive integer"):
        generate_couplings(flow, 0)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        generate_couplings(flow, 4, chunk_size=0)
    with pytest.raises(ValueError, match="no event_shape"):
        generate_couplings(flowkit.build(model=flowkit.MLPField(2)), 4)
