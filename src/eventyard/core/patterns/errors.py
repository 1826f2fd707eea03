"""The one error a pattern can raise: InvalidEventPattern, worded as EventBridge words it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventyard.errors import AwsError

MESSAGE_PREFIX = "Event pattern is not valid. Reason: "


class InvalidEventPattern(Exception):
    """A pattern EventBridge refuses.

    `reason` is AWS's reason (for example ``"Empty arrays are not allowed"``); `message` and ``str()`` are the
    first line of the message AWS returns with ``InvalidEventPatternException``:
    ``"Event pattern is not valid. Reason: Empty arrays are not allowed"``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.message = MESSAGE_PREFIX + reason
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"InvalidEventPattern({self.reason!r})"

    def to_aws_error(self) -> AwsError:
        """The API error for this refusal: ``InvalidEventPatternException`` (HTTP 400) with AWS's message."""
        from eventyard.errors import AwsError

        return AwsError("InvalidEventPatternException", self.message)


class _Refusal(Exception):
    """Internal: a refusal on its way to becoming InvalidEventPattern; `reason` is AWS's reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PatternFormatError(_Refusal):
    """Internal: a refusal Ruler raises as a JSON parse error (the kind that lets it retry as a legacy rule).

    Everything the JSON tokenizer reports and every `barf` of Ruler's compilers is of this kind; CIDR errors
    and a few number errors are not (they escape Ruler as IllegalArgumentException), see `PatternValueError`.
    """


class PatternValueError(_Refusal):
    """Internal: a refusal Ruler raises as IllegalArgumentException (its legacy retry does not catch it)."""
