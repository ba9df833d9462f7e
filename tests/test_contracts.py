"""Contracts are checked member by member, the same on every Python: a guide accepts a model
whose members are submodules (which `inspect.getattr_static`, and so `isinstance` with a Protocol
from Python 3.12 on, cannot see), the trainer accepts a wrapper that forwards its attributes,
and what is missing is named."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from bench.gpu_check import Recorded
from guides.contract import model_for
from guides.srnn import SRNNFiltering, SRNNLike, SRNNSmoothing
from zoo.contracts import missing_members, protocol_members, provides
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.estimators.smc import check_smc, supports_smc
from zoo.models.srnn import SRNN
from zoo.objectives.base import TrainingObjective, check_objective
from zoo.objectives.elbo import ELBO


def srnn() -> SRNN:
    torch.manual_seed(0)
    return SRNN(DataSpec("bernoulli", 6), hidden_size=8, z_size=3)


def test_the_members_of_a_protocol_are_its_attributes_and_methods():
    assert protocol_members(SRNNLike) == {
        "z_size": False,
        "hidden_size": False,
        "feature_size": False,
        "transition": False,
        "recurrence": True,
        "initial_z": True,
    }
    assert protocol_members(TrainingObjective) == {
        "validation_particles": False,
        "validation_bound": False,
        "selects_by_likelihood": False,
        "progress": False,
        "__call__": True,
        "state_dict": True,
        "load_state_dict": True,
    }


def test_a_guide_accepts_a_model_whose_members_are_submodules():
    model = srnn()
    with pytest.raises(AttributeError):  # what isinstance reads from Python 3.12 on
        inspect.getattr_static(model, "transition")
    assert provides(model, SRNNLike) and model_for("srnn_smoothing", "srnn", model, SRNNLike) is model
    guide = SRNNSmoothing(model)
    assert guide.srnn is model


def test_a_guide_refuses_a_model_without_its_members():
    with pytest.raises(ZooError, match=r"^guide=srnn_smoothing is a guide for model=srnn, not for Linear$"):
        model_for("srnn_smoothing", "srnn", nn.Linear(2, 2), SRNNLike)


def test_the_trainer_accepts_an_objective_that_forwards_its_attributes():
    wrapped = Recorded(ELBO())  # bench.gpu_check's: it keeps every loss, forwarding the rest
    with pytest.raises(AttributeError):
        inspect.getattr_static(wrapped, "validation_particles")
    check_objective(wrapped)  # no error


def test_the_members_an_objective_lacks_are_named():
    class Partial:
        validation_particles = 1
        state_dict = None  # declared a method: an attribute that cannot be called is missing

        def __call__(self, model, guide, batch, step=None): ...

    assert missing_members(Partial(), TrainingObjective) == [
        "validation_bound",
        "selects_by_likelihood",
        "progress",
        "state_dict",
        "load_state_dict",
    ]
    with pytest.raises(ZooError, match="objective Partial lacks validation_bound, selects_by_likelihood, progress"):
        check_objective(Partial())


def test_smc_reads_the_step_methods_member_by_member():
    model = srnn()
    assert supports_smc(model, SRNNFiltering(model))
    check_smc(model, SRNNFiltering(model))  # no error
    assert not supports_smc(model, SRNNSmoothing(model))
    with pytest.raises(ZooError, match="objective=fivo"):
        check_smc(model, SRNNSmoothing(model))
