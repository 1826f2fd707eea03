"""Who is calling: the account and region named by the SigV4 Authorization header."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")
_ACCOUNT = re.compile(r"\d{12}")


@dataclass(frozen=True, slots=True)
class Caller:
    account: str
    region: str


def identify(authorization: str | None, default_account: str, default_region: str) -> Caller:
    """A 12-digit access key id is that account; any other key is the default account.

    The region is the credential scope's region. Signatures are parsed, not yet verified.
    """
    if not authorization:
        return Caller(default_account, default_region)
    found = _CREDENTIAL.search(authorization)
    if found is None:
        return Caller(default_account, default_region)
    key, _date, region, _service = found.groups()
    return Caller(key if _ACCOUNT.fullmatch(key) else default_account, region)
