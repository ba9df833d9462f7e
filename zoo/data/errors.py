"""The exception for faults in data: a missing, corrupt or malformed file."""

from zoo.errors import ZooError


class DataError(ZooError):
    """A data file is missing, corrupt or malformed. The message names the file and the fix."""
