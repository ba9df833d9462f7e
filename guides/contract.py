"""How a guide refuses a model it was not written for: each guide states what it reads of its
model as a Protocol of sizes and methods the model declares, and checks it once, when built."""

from __future__ import annotations

from zoo.contracts import provides
from zoo.errors import ZooError


def model_for(guide: str, family: str, model, contract: type):
    """`model`, if it provides `contract` (a Protocol); else a ZooError saying that
    guide=`guide` is a guide for model=`family`."""
    if not provides(model, contract):
        raise ZooError(f"guide={guide} is a guide for model={family}, not for {type(model).__name__}")
    return model
