"""Run a module with other tensors in place of its parameters."""

from __future__ import annotations

from contextlib import contextmanager

from torch import Tensor, nn


@contextmanager
def swap_parameters(module: nn.Module, tensors: dict[str, Tensor]):
    """Within the block, `module`'s parameter `name` is `tensors[name]` (keeping its graph),
    so sampled weights flow through the module's own code. Names are those of
    `module.named_parameters()`. Afterwards the parameters are back, in their order."""
    saved, orders = [], {}
    try:
        for name, value in tensors.items():
            owner_name, _, attr = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            orders.setdefault(owner, list(owner._parameters))
            saved.append((owner, attr, owner._parameters.pop(attr)))
            setattr(owner, attr, value)  # nn.LSTM's __setattr__ also refreshes its flat weight list
        yield module
    finally:
        for owner, attr, parameter in reversed(saved):
            delattr(owner, attr)
            setattr(owner, attr, parameter)
        for owner, order in orders.items():
            for attr in order:  # re-insert in the original order, so named_parameters() is stable
                owner._parameters[attr] = owner._parameters.pop(attr)
