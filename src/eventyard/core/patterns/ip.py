"""IP addresses and CIDR blocks as event-ruler reads them (``cidr`` patterns, and IP strings used as values).

Ruler only treats text as an address if it fits one of two loose shapes (four dotted decimal numbers, or
hex digits and colons), then asks Java's ``InetAddress`` to read it. An IPv4-mapped IPv6 address becomes
IPv4. A block ``a.b.c.d/n`` covers ``a.b.c.d`` up to ``a.b.c.d`` with its host bits set: Ruler does not clear
host bits first, and it refuses ``/32`` for IPv4 and ``/128`` for IPv6.
"""

from __future__ import annotations

import ipaddress
import re

from eventyard.core.patterns.errors import PatternValueError

_IPV4_SHAPE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_SHAPE = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
_JAVA_INT = re.compile(r"[+-]?\d+")

Address = tuple[int, int]  # (4 or 16 bytes, the address as an integer)


def looks_like_ip(text: str) -> bool:
    return _IPV4_SHAPE.fullmatch(text) is not None or _IPV6_SHAPE.fullmatch(text) is not None


def _read(text: str) -> Address | None:
    """The address `text` spells, or None if Java's InetAddress would not read it as a literal."""
    if _IPV4_SHAPE.fullmatch(text):
        if len(text) > 15:
            return None
        value = 0
        for part in text.split("."):
            # Current JDKs refuse octets with leading zeros as ambiguous (octal?) literals.
            if len(part) > 1 and part[0] == "0":
                return None
            octet = int(part)
            if octet > 255:
                return None
            value = (value << 8) | octet
        return 4, value
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped
    if mapped is not None:
        return 4, int(mapped)
    return 16, int(address)


def parse_address(text: str) -> Address:
    """Ruler's `ipToBytes`: the address, or PatternValueError with Ruler's words."""
    if not looks_like_ip(text):
        raise PatternValueError(f"Nonstandard IP address: {text}")
    address = _read(text)
    if address is None:
        raise PatternValueError(f"Invalid IP address: {text}")
    return address


def address_if_ip(text: str) -> Address | None:
    """The address if `text` is one Ruler reads as an IP address, else None (event values, plain strings)."""
    if not looks_like_ip(text):
        return None
    return _read(text)


def _java_parse_int(text: str) -> int:
    if not _JAVA_INT.fullmatch(text):
        raise ValueError(text)
    value = int(text)
    if not -(2**31) <= value < 2**31:
        raise ValueError(text)
    return value


def parse_cidr(text: str) -> tuple[int, int, int]:
    """A ``cidr`` operand as (address size in bytes, lowest, highest) address, or PatternValueError."""
    parts = text.split("/")
    while parts and parts[-1] == "":
        parts.pop()  # Java's String.split drops trailing empty strings
    if len(parts) != 2:
        raise PatternValueError("Malformed CIDR, one '/' required")
    try:
        mask = _java_parse_int(parts[1])
    except ValueError:
        raise PatternValueError("Malformed CIDR, mask bits must be an integer") from None
    if mask < 0:
        raise PatternValueError("Malformed CIDR, mask bits must not be negative")
    size, value = parse_address(parts[0])
    if size == 4 and mask > 31:
        raise PatternValueError("IPv4 mask bits must be < 32")
    if size == 16 and mask > 127:
        raise PatternValueError("IPv6 mask bits must be < 128")
    host_bits = size * 8 - mask
    return size, value, value | ((1 << host_bits) - 1)


def format_address(size: int, value: int) -> str:
    if size == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))
