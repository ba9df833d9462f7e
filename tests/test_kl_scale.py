"""objective.kl_scale: the KL term weighted by c in training (a tempered posterior), by 1 elsewhere."""

import pytest
import torch

from guides.weights import MeanFieldWeights
from tests.helpers import loss_and_draw, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.evaluation.likelihood import weight_kl
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO


@pytest.fixture
def setting():
    data = toy_text()
    torch.manual_seed(0)
    model = BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3)
    guide = MeanFieldWeights(model, init_scale=0.05)
    return model, guide, collate(data.train[:3], dataset_size=len(data.train))


def scaled_nll(model, batch, w):
    """(N / B) NLL_b: the minibatch's NLL under weights w, scaled to the data set by the plate."""
    return -model.log_prob(batch, w).sum() * batch.dataset_size / batch.batch_size


@pytest.mark.parametrize("c", [0.1, 0.5, 1.0])
def test_the_training_loss_is_the_scaled_nll_plus_c_times_the_closed_form_kl(setting, c):
    """Same draw of w: loss = (N / B) NLL_b + c KL(q(w) || p(w)), the KL in closed form."""
    model, guide, batch = setting
    loss, w = loss_and_draw(model, guide, batch, ELBO(analytic_kl=True, kl_scale=c), step=10)
    torch.testing.assert_close(loss, scaled_nll(model, batch, w) + c * weight_kl(model, guide))


def test_annealing_rises_to_c_and_outside_training_the_kl_counts_once(setting):
    model, guide, batch = setting
    tempered = ELBO(analytic_kl=True, anneal_steps=10, kl_scale=0.2)
    kl = weight_kl(model, guide)
    for step, weight in [(5, 0.1), (10, 0.2), (50, 0.2), (None, 1.0)]:
        loss, w = loss_and_draw(model, guide, batch, tempered, step=step)
        torch.testing.assert_close(loss, scaled_nll(model, batch, w) + weight * kl)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_a_kl_scale_outside_zero_to_one_is_refused_by_name(bad):
    with pytest.raises(ZooError, match=r"objective\.kl_scale=.* must be in \(0, 1\]"):
        ELBO(kl_scale=bad)
