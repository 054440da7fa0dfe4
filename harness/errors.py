"""One exception type for problems the user can fix; the CLI prints its message as one line."""


class MedbenchError(Exception):
    """A user-facing error: the message says what is wrong and what to do about it."""


class UnknownNameError(MedbenchError, KeyError):
    """A registry lookup failed; the message suggests the closest registered names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""
