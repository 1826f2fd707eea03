"""Who is calling: the account and region named by the SigV4 Authorization header."""

from __future__ import annotations

import re
from dataclasses import dataclass

from eventyard.errors import AwsError

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
_ACCOUNT = re.compile(r"\d{12}")
# What a Region name is made of (us-east-1, cn-north-1, us-isob-east-1; also a made-up "local" for tests):
# a scope with other characters (a ":" or "/" would break every ARN formed from it) names no Region.
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")


@dataclass(frozen=True, slots=True)
class Caller:
    account: str
    region: str


def identify(authorization: str | None, default_account: str, default_region: str) -> Caller:
    """A 12-digit access key id is that account; any other key is the default account.

    The region is the credential scope's region; one that no Region name could be is refused as AWS
    refuses a scope of the wrong Region (InvalidSignatureException, 403). Signatures are parsed, not yet
    verified.
    """
    if not authorization:
        return Caller(default_account, default_region)
    found = _CREDENTIAL.search(authorization)
    if found is None:
        return Caller(default_account, default_region)
    key, _date, region, _service = found.groups()
    if not _REGION.fullmatch(region):
        raise AwsError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{region}'.",
            403,
        )
    return Caller(key if _ACCOUNT.fullmatch(key) else default_account, region)
