"""Where data files live, and how a published file gets there intact.

A data file is looked up in the data directory (the `data_dir` argument, else
$ZOO_DATA_DIR, else ~/.cache/zoo/data) and checked against its published
sha256. Only when it is absent is it downloaded, atomically, into that
directory. The data directory may be read-only (CI lays it out that way), so
nothing derived from a data file is ever written there: derived files go to
`cache_dir()` ($ZOO_CACHE_DIR, else ~/.cache/zoo/cache).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from zoo.data.errors import DataError

DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The directory given, else $ZOO_DATA_DIR, else ~/.cache/zoo/data."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("ZOO_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zoo" / "data"


_data_dir = data_dir  # `fetch` takes a parameter of the same name


def cache_dir() -> Path:
    """The writable directory for derived files: $ZOO_CACHE_DIR, else ~/.cache/zoo/cache (created)."""
    env = os.environ.get("ZOO_CACHE_DIR")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "zoo" / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, url: str, sha256: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The path of the verified data file `name`, downloading it from `url` if it is absent."""
    path = _data_dir(data_dir) / name
    if path.exists():
        _check_sha256(path, sha256)
        return path
    return _download(url, path, sha256, name)


def _check_sha256(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(
            f"{path} is corrupt or not the published file: sha256 {actual}, expected {expected}. "
            f"Delete it so it is downloaded again, or set ZOO_DATA_DIR to a folder holding a good copy."
        )


def _download(url: str, path: Path, expected: str, name: str) -> Path:
    """Stream `url` into a temporary file next to `path`, check its hash, then rename it into place.
    `name` is the file's place in the data folder (polyphonic/Nottingham.mat), as errors say it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False)
    except OSError as e:
        raise DataError(
            f"{path.name} is not in {path.parent}, and that folder cannot be written to download it "
            f"from {url} ({e}). "
            f"Set ZOO_DATA_DIR to a folder holding {name}, or to a writable one."
        ) from e
    digest = hashlib.sha256()
    try:
        with tmp, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                tmp.write(block)
    except Exception as e:  # offline, DNS, HTTP error, timeout, full disk: all mean "no file"
        os.unlink(tmp.name)
        raise DataError(
            f"{path.name} is not in {path.parent} and could not be downloaded from {url} ({e}). "
            f"Set ZOO_DATA_DIR to a folder holding {name}."
        ) from e
    if digest.hexdigest() != expected:
        os.unlink(tmp.name)
        raise DataError(
            f"the download of {path.name} from {url} has sha256 {digest.hexdigest()}, expected {expected}; "
            f"nothing was saved. Set ZOO_DATA_DIR to a folder holding the published {name}."
        )
    os.chmod(tmp.name, 0o644)  # a temporary file is private; the data file is not
    os.replace(tmp.name, path)
    return path
