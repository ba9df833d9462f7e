"""What the three commands (zoo.run, zoo.evaluate, zoo.sample) share: bad input ends in one
clear line on stderr and exit status 2, not a stack trace (ZOO_DEBUG=1 shows the trace).

`check_overrides` reads zoo.run's command line before Hydra does, so that a misspelt option
or group choice is answered with the nearest valid one rather than Hydra's own error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

from hydra.errors import InstantiationException

from zoo.errors import ZooError
from zoo.options import check_arguments, did_you_mean


def one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split())


@contextmanager
def user_errors():
    try:
        yield
    except (ZooError, InstantiationException) as e:
        if os.environ.get("ZOO_DEBUG"):
            raise
        print(f"error: {describe(e)}", file=sys.stderr)
        sys.exit(2)


def describe(error: ZooError | InstantiationException) -> str:
    """What went wrong, in one line. Hydra wraps an error raised while building a config's
    `_target_`: our own errors are shown as they are, any other names the option it came from."""
    if isinstance(error, InstantiationException):
        cause = error.__cause__
        if isinstance(cause, ZooError):
            return one_line(cause)
        key = next(
            (line.split(":", 1)[1].strip() for line in str(error).splitlines() if line.startswith("full_key:")),
            "the config",
        )
        reason = one_line(cause) if cause is not None else one_line(error).split(":", 1)[-1]
        return (
            f"the options of {key} cannot build it ({type(cause).__name__ if cause else 'error'}: {reason}); "
            f"check the values given to {key}.*"
        )
    return one_line(error)


# -- the command line of zoo.run, checked before Hydra reads it -------------------------------------


def check_overrides(argv: list[str], config_dir: Path, config_name: str = "config") -> None:
    """Raise ZooError for an override Hydra would refuse: a group choice that does not exist,
    an option that is not in the composed config (both with the nearest valid name), or one
    that does not parse. Hydra's own flags (--help, --cfg ...) are left to Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    search = [Path(config_dir)]
    args = []
    words = iter(argv)
    for arg in words:
        flag, eq, value = arg.partition("=")
        if flag in ("--config-dir", "-cd"):
            search.append(Path(value if eq else next(words, "")).resolve())
        elif flag in ("--config-name", "-cn"):
            config_name = value if eq else next(words, config_name)
        elif arg in ("-m", "--multirun"):
            continue
        elif arg.startswith("-"):
            return
        else:
            args.append(arg)
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except OverrideParseException as e:
        raise ZooError(
            f"cannot read the options: {str(e).splitlines()[0]} (quote values with spaces or "
            "brackets, e.g. 'sample.prime=\"To be\"')"
        ) from None
    chosen, values = [], []
    for o in overrides:
        key = o.key_or_group
        if key.split("/")[0].split(".")[0] == "hydra":
            continue
        if group_dirs(key, search):
            choices = (
                [None]
                if o.is_delete()
                else (list(o.sweep_string_iterator()) if o.is_sweep_override() else [str(o.value())])
            )
            for choice in choices:
                if choice is not None:
                    check_choice(key, choice, search)
            chosen.append(o.input_line if not o.is_sweep_override() else f"{key}={choices[0]}")
        elif not (o.is_add() or o.is_force_add()):
            values.append(key)
    cfg = compose(config_name, search, chosen)
    for key in values:
        check_key(cfg, key)


def group_dirs(group: str, search: list[Path]) -> list[Path]:
    """The folders of config group `group` in the search path."""
    return [d / group for d in search if (d / group).is_dir()]


def check_choice(group: str, choice: str, search: list[Path]) -> None:
    """A group choice names a yaml file of the group."""
    options = sorted({p.stem for d in group_dirs(group, search) for p in d.glob("*.yaml")})
    if choice not in options:
        raise ZooError(
            f"{group}={choice} is not a choice of {group}{did_you_mean(choice, options)}; "
            f"the choices are {', '.join(options)}"
        )


def compose(config_name: str, search: list[Path], overrides: list[str]):
    """The config Hydra composes from the group choices alone."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    extra = [f"hydra.searchpath=[{','.join('file://' + str(d) for d in search[1:])}]"] if search[1:] else []
    try:
        with initialize_config_dir(config_dir=str(search[0]), version_base="1.3"):
            return hydra_compose(config_name, overrides=overrides + extra)
    except Exception as e:
        raise ZooError(f"cannot compose the config from {' '.join(overrides)}: {one_line(e)}") from None


def check_key(cfg, key: str) -> None:
    """`key` (dotted) is an option of the composed config, else the nearest one is named."""
    from omegaconf import DictConfig, OmegaConf

    node, path = cfg, []
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig):
            raise ZooError(f"{'.'.join(path)} is a value, not a group of options: {key} cannot be set")
        if part not in node.keys():  # `in node` is false for a mandatory value (???) not yet given
            where = ".".join(path)
            rest = "".join(f".{p}" for p in parts[i + 1 :])
            options = [str(k) for k in node if not str(k).startswith("_")]
            match = did_you_mean(part, options, prefix=f"{where}." if where else "")
            raise ZooError(
                f"{key} is not an option{match[:-2] + rest + '?)' if match else ''}; the options of "
                f"{where or 'the config'} are {', '.join(sorted(options))}"
            )
        path.append(part)
        node = OmegaConf.select(cfg, ".".join(path), throw_on_missing=False)


# -- a composed config's `_target_` nodes, checked before anything is built -------------------------


def check_target(node: Mapping, key: str) -> None:
    """check_arguments for one `_target_` node of a config."""
    import hydra.utils

    try:
        target = hydra.utils.get_object(node["_target_"])
    except Exception:
        raise ZooError(f"{key}._target_={node['_target_']!r} cannot be imported") from None
    check_arguments(target, node, key, node["_target_"])


def check_targets(cfg: Mapping, key: str = "") -> None:
    """check_target on every `_target_` node of a config tree; a mandatory value left
    unset (`???`) is named with how to give it."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    for name, value in cfg.items():
        if value == "???":
            raise ZooError(f"{key}.{name} has no value and needs one: add {key}.{name}=...")
    if "_target_" in cfg:
        check_target(cfg, key)
    for name, value in cfg.items():
        if isinstance(value, Mapping):
            check_targets(value, f"{key}.{name}" if key else str(name))
