"""Errors as values carrying AWS's error code; the wire layer turns them into responses."""

from __future__ import annotations


class AwsError(Exception):
    """An error the API returns to the caller as `{"__type": code, "message": message}`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"AwsError({self.code!r}, {self.message!r}, {self.status})"


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def already_exists(message: str) -> AwsError:
    return AwsError("ResourceAlreadyExistsException", message)


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


# What AWS answers when a rule, a target of a rule or an event bus would exceed its quota.
QUOTA_EXCEEDED = "The requested resource exceeds the maximum number allowed."


def limit_exceeded(message: str = QUOTA_EXCEEDED) -> AwsError:
    return AwsError("LimitExceededException", message)


def invalid_state(message: str) -> AwsError:
    return AwsError("InvalidStateException", message)
