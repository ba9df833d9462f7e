"""Variational guides q(z | x), composed with zoo models through sample-site names."""

from guides.empty import NoLatents
from guides.weights import LowRankWeights, MeanFieldWeights

__all__ = ["LowRankWeights", "MeanFieldWeights", "NoLatents"]
