"""The one exception type for problems a user caused.

The ``contrast`` command prints an :class:`InputError` as one line, ``contrast: error: ...``, and
exits with code 2 (``--debug`` shows the traceback).

    >>> raise InputError("data/ratings.txt line 12: item id '12a' is not an integer")
"""


class InputError(ValueError):
    """A problem with what the user gave (a file, a config value); the message names it and says
    what to do."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: truncated, foreign, or of another model."""
