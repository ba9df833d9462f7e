"""Building blocks shared by models and guides: emissions, parameter swapping."""

from zoo.nn.emissions import BernoulliEmitter, CategoricalEmitter, make_emitter
from zoo.nn.swap import swap_parameters

__all__ = ["BernoulliEmitter", "CategoricalEmitter", "make_emitter", "swap_parameters"]
