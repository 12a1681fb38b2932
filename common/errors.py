"""One exception family for every failure a user can cause or fix.

Front ends catch :class:`LiveToonError` and print its message as one line; anything
else escaping is a bug and deserves its traceback.
"""


class LiveToonError(Exception):
    """A failure with a message meant for the user (bad input, missing device, ...)."""


class WeightsError(LiveToonError):
    """A model or style file that cannot be used, with the reason in one sentence."""
