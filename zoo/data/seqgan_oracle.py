"""SeqGAN's own oracle: the target LSTM whose weights LantaoYu/SeqGAN publishes as
save/target_params_py3.pkl (Yu et al. 2016, arXiv 1609.05473, section 5), so NLL-oracle here
is the paper's figure on the paper's oracle.

The file is a pickled list of 15 float32 arrays, in the order target_lstm.py reads them
(`params[0]` ... `params[14]`), with V = 5000 tokens, embedding E = 32 and hidden H = 32.
TensorFlow multiplies row vectors on the left (x W), and so does this module:

    x_0 = g_embeddings[start_token], start_token = 0, h_0 = c_0 = 0
    i_t  = sigmoid(x_t Wi  + h_{t-1} Ui  + bi)      input gate
    f_t  = sigmoid(x_t Wf  + h_{t-1} Uf  + bf)      forget gate
    o_t  = sigmoid(x_t Wog + h_{t-1} Uog + bog)     output gate
    c_t' = tanh(x_t Wc + h_{t-1} Uc + bc)           new memory cell
    c_t  = f_t * c_{t-1} + i_t * c_t'               final memory cell
    h_t  = o_t * tanh(c_t)                          current hidden state
    o_t^out = h_t Wo + bo                           logits of the next token (create_output_unit)
    x_{t+1} = g_embeddings[token drawn from softmax(o_t^out)]

SeqGAN draws sequences of 20 tokens (SEQ_LENGTH); token 0 is both the start input and an
ordinary token. This is torch.nn.LSTM with one bias per gate and torch's gate order
(i, f, g, o) = (input, forget, new memory cell, output): weight_ih = [Wi; Wf; Wc; Wog]^T,
weight_hh = [Ui; Uf; Uc; Uog]^T, bias_ih = [bi, bf, bc, bog], bias_hh = 0 (`as_torch_lstm`).

The pickle is read only through zoo.data.safe_pickle, which admits numpy's array
reconstruction and nothing else, after its sha256 has been checked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from zoo.data.errors import DataError
from zoo.data.fetch import data_dir as default_data_dir
from zoo.data.fetch import fetch
from zoo.data.oracle import Oracle
from zoo.data.safe_pickle import load_arrays

NAME = "seqgan_target_params_py3.pkl"  # its name in the data folder
URL = "https://raw.githubusercontent.com/LantaoYu/SeqGAN/master/save/target_params_py3.pkl"
SHA256 = "5ac794a695dd6e0eb2bb689f3dfda55e4e0053e8c0399e6242630a95f1e60e8a"
NUM_EMB, EMB_DIM, HIDDEN_DIM, SEQ_LENGTH = 5000, 32, 32, 20  # sequence_gan.py's sizes

# target_lstm.py's params[k], k = 0..14: (name, role, shape in num_emb V, emb_dim E, hidden_dim H)
PARAMETERS = (
    ("g_embeddings", "the token embedding", ("V", "E")),
    ("Wi", "the input gate's input matrix", ("E", "H")),
    ("Ui", "the input gate's recurrent matrix", ("H", "H")),
    ("bi", "the input gate's bias", ("H",)),
    ("Wf", "the forget gate's input matrix", ("E", "H")),
    ("Uf", "the forget gate's recurrent matrix", ("H", "H")),
    ("bf", "the forget gate's bias", ("H",)),
    ("Wog", "the output gate's input matrix", ("E", "H")),
    ("Uog", "the output gate's recurrent matrix", ("H", "H")),
    ("bog", "the output gate's bias", ("H",)),
    ("Wc", "the new memory cell's input matrix", ("E", "H")),
    ("Uc", "the new memory cell's recurrent matrix", ("H", "H")),
    ("bc", "the new memory cell's bias", ("H",)),
    ("Wo", "the output unit's matrix", ("H", "V")),
    ("bo", "the output unit's bias", ("V",)),
)


class SeqGANOracle(Oracle):
    """SeqGAN's TARGET_LSTM as a torch module: the equations of the module docstring over the
    15 published arrays, kept as buffers under target_lstm.py's names; never trained."""

    def __init__(
        self,
        params: Sequence[np.ndarray],
        length: int = SEQ_LENGTH,
        seed: int = 88,
        source: str = "the parameters",
        num_emb: int = NUM_EMB,
        emb_dim: int = EMB_DIM,
        hidden_dim: int = HIDDEN_DIM,
    ):
        super().__init__()
        check_parameters(params, source, num_emb, emb_dim, hidden_dim)
        self.vocab_size, self.hidden_size, self.length, self.seed = num_emb, hidden_dim, length, seed
        for (name, _, _), array in zip(PARAMETERS, params):
            self.register_buffer(name, torch.from_numpy(np.array(array, dtype=np.float32)))
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(a, np.float32).tobytes() for a in params))
        self.digest = digest.hexdigest()[:12]  # names the cached splits of these weights

    @classmethod
    def from_file(cls, path: str | os.PathLike, length: int = SEQ_LENGTH, seed: int = 88) -> SeqGANOracle:
        """The oracle of a parameter file, read through the array-only unpickler."""
        return cls(load_arrays(Path(path).read_bytes(), str(path)), length, seed, source=str(path))

    def gates(self, x_prev: Tensor, h_prev: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(i, f, o, c_): the input, forget and output gates and the new memory cell for input
        tokens x_prev (B,) and h_{t-1} (B, H); each (B, H)."""
        x = self.g_embeddings[x_prev]  # (B, E)
        i = torch.sigmoid(x @ self.Wi + h_prev @ self.Ui + self.bi)
        f = torch.sigmoid(x @ self.Wf + h_prev @ self.Uf + self.bf)
        o = torch.sigmoid(x @ self.Wog + h_prev @ self.Uog + self.bog)
        c_ = torch.tanh(x @ self.Wc + h_prev @ self.Uc + self.bc)
        return i, f, o, c_

    def step(self, x_prev: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """create_recurrent_unit then create_output_unit: (B,), (B, H), (B, H) ->
        logits (B, V), h_t (B, H), c_t (B, H)."""
        i, f, o, c_ = self.gates(x_prev, h)
        c = f * c + i * c_  # final memory cell
        h = o * torch.tanh(c)  # current hidden state
        return torch.addmm(self.bo, h, self.Wo), h, c  # (B, V), (B, H), (B, H)

    def cache_key(self) -> str:
        """The weights' digest, the length and the seed: they fix the draws."""
        return f"seqgan{self.digest}-T{self.length}-seed{self.seed}"

    def as_torch_lstm(self) -> nn.LSTM:
        """The same recurrence as a one-layer torch.nn.LSTM (batch_first). Torch's gate rows
        are (i, f, g, o): input gate, forget gate, new memory cell, output gate."""
        lstm = nn.LSTM(self.g_embeddings.shape[1], self.hidden_size, batch_first=True).to(self.device)
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(torch.cat([self.Wi, self.Wf, self.Wc, self.Wog], 1).T)  # (4H, E)
            lstm.weight_hh_l0.copy_(torch.cat([self.Ui, self.Uf, self.Uc, self.Uog], 1).T)  # (4H, H)
            lstm.bias_ih_l0.copy_(torch.cat([self.bi, self.bf, self.bc, self.bog]))  # (4H,)
            lstm.bias_hh_l0.zero_()
        return lstm


def expected_shapes(num_emb: int = NUM_EMB, emb_dim: int = EMB_DIM, hidden_dim: int = HIDDEN_DIM) -> dict:
    """{name: shape} of the 15 arrays for the given sizes."""
    sizes = {"V": num_emb, "E": emb_dim, "H": hidden_dim}
    return {name: tuple(sizes[s] for s in shape) for name, _, shape in PARAMETERS}


def check_parameters(
    params, source: str, num_emb: int = NUM_EMB, emb_dim: int = EMB_DIM, hidden_dim: int = HIDDEN_DIM
) -> None:
    """DataError unless `params` is target_lstm.py's list of 15 finite float arrays of the
    expected shapes; the message names the array by its index, name and role."""
    names = ", ".join(name for name, _, _ in PARAMETERS)
    if not isinstance(params, (list, tuple)) or len(params) != len(PARAMETERS):
        count = f"{len(params)} items" if isinstance(params, (list, tuple)) else f"a {type(params).__name__}"
        raise DataError(
            f"{source} holds {count}; SeqGAN's oracle is a list of {len(PARAMETERS)} arrays "
            f"in target_lstm.py's order: {names}"
        )
    shapes = expected_shapes(num_emb, emb_dim, hidden_dim)
    for k, ((name, role, _), array) in enumerate(zip(PARAMETERS, params)):
        where = f"{source}: params[{k}], {name}, {role}"
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            kind = f"dtype {array.dtype}" if isinstance(array, np.ndarray) else type(array).__name__
            raise DataError(f"{where}, is {kind}; expected a float array of shape {shapes[name]}")
        if array.shape != shapes[name]:
            raise DataError(f"{where}, has shape {array.shape}; expected {shapes[name]}")
        if not np.isfinite(array).all():
            raise DataError(f"{where}, has values that are not finite")


def seqgan_oracle(data_dir: str | os.PathLike | None = None, length: int = SEQ_LENGTH, seed: int = 88) -> SeqGANOracle:
    """SeqGAN's oracle from `NAME` in the data folder, downloaded from `URL` if absent and
    checked against `SHA256`; a missing file says where to put it."""
    folder = default_data_dir(data_dir)
    try:
        path = fetch(NAME, URL, SHA256, folder)
    except DataError as e:
        if (folder / NAME).exists():  # present but not the published file: fetch's message says so
            raise
        raise DataError(
            f"data.oracle=seqgan needs SeqGAN's oracle parameters at {folder / NAME}, which is not there "
            f"and could not be downloaded ({e.__cause__ or e}). Put LantaoYu/SeqGAN's save/target_params_py3.pkl, "
            f"published at {URL} (sha256 {SHA256}), in {folder} as {NAME}, or set ZOO_DATA_DIR "
            f"(or data.data_dir) to a folder holding it."
        ) from e
    return SeqGANOracle.from_file(path, length, seed)
