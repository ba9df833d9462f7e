"""The one exception type for bad input: a message that names the problem and its fix."""


class ZooError(ValueError):
    """Bad input from a user (a file, a config field, a site name); the CLI prints it in one line."""
