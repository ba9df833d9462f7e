"""A whole sequence read into one vector: the final state of an LSTM over x_{1:T}."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence


class SequenceEncoder(nn.Module):
    """e(x) = h_T, the top layer's final LSTM state after reading x_{1:T} (Dai & Le 2015's
    sequence autoencoder; the encoder of Fabius & van Amersfoort 2014 and Bowman et al. 2015).
    Bidirectional: [h_T of the forward pass; h_1 of the backward pass].

    Each sequence stops at its own length (a packed sequence), so padding never reaches h_T.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.directions = 2 if bidirectional else 1
        self.output_size = self.directions * hidden_size
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        """features (B, T, F), lengths (B,) -> e(x) (B, directions * H)."""
        packed = pack_padded_sequence(features, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # (layers * directions, B, H), back in the batch's order
        top = h[-self.directions :]  # (directions, B, H)
        return torch.cat(list(top), dim=-1)  # (B, directions * H)
