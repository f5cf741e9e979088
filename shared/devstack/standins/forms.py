"""Stripe's nested form encoding, both ways.

Stripe's v1 API takes `application/x-www-form-urlencoded` bodies whose keys
carry the nesting in brackets, as stripe-python's `_api_encode` writes them:

    line_items[0][price_data][unit_amount]=500   -> {"line_items": [{"price_data": {"unit_amount": "500"}}]}
    metadata[order_id]=abc                        -> {"metadata": {"order_id": "abc"}}
    expand[]=line_items&expand[]=payment_intent   -> {"expand": ["line_items", "payment_intent"]}
    expand[0]=line_items                          -> {"expand": ["line_items"]}

Every leaf stays a string (the server coerces per parameter). A hash whose
keys are exactly 0..n-1 becomes a list, except under `metadata`, whose keys
are the caller's own. Contradictory keys (`a=1&a[b]=2`) raise FormError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

# Hashes whose keys belong to the caller: never turned into lists.
FREE_FORM_HASHES = frozenset({"metadata"})

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_APPEND = object()


class FormError(ValueError):
    """The body is not a valid Stripe form encoding; `param` names the offending key."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def split_key(key: str) -> list[Any]:
    """`a[b][0][]` -> ["a", "b", "0", _APPEND]."""
    match = _KEY.match(key)
    if not match:
        raise FormError(f"Invalid parameter name: {key!r}", key)
    parts: list[Any] = [match.group(1)]
    for segment in re.findall(r"\[([^\[\]]*)\]", match.group(2)):
        parts.append(_APPEND if segment == "" else segment)
    return parts


def parse(body: bytes | str | None) -> dict[str, Any]:
    """Decode a form body (or query string) into nested dicts, lists and strings."""
    if not body:
        return {}
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    return parse_pairs(parse_qsl(body, keep_blank_values=True, strict_parsing=False))


def parse_pairs(pairs: list[tuple[str, str]] | Iterator[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        _insert(root, split_key(key), value, key)
    return _listify(root, None)


def _insert(node: dict[str, Any], parts: list[Any], value: str, full_key: str) -> None:
    head, rest = parts[0], parts[1:]
    if head is _APPEND:
        raise FormError(f"Invalid array syntax in {full_key!r}", full_key)
    if not rest:
        if head in node:
            if isinstance(node[head], _Appended):
                raise FormError(f"Conflicting values for {full_key!r}", full_key)
            if isinstance(node[head], dict):
                raise FormError(f"{full_key!r} is both a value and a hash", full_key)
        node[head] = value
        return
    if rest[0] is _APPEND:
        bucket = node.setdefault(head, _Appended())
        if not isinstance(bucket, _Appended):
            raise FormError(f"{full_key!r} mixes [] with other forms", full_key)
        if len(rest) == 1:
            bucket.append(value)
        else:
            # a[][b]=1 : each new hash starts when its first key repeats.
            if not bucket or not isinstance(bucket[-1], dict) or _path_taken(bucket[-1], rest[1:]):
                bucket.append({})
            _insert(bucket[-1], rest[1:], value, full_key)
        return
    child = node.setdefault(head, {})
    if not isinstance(child, dict) or isinstance(child, _Appended):
        raise FormError(f"{full_key!r} is both a value and a hash", full_key)
    _insert(child, rest, value, full_key)


def _path_taken(node: dict[str, Any], parts: list[Any]) -> bool:
    for part in parts:
        if part is _APPEND or not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


class _Appended(list):
    """Values collected from `key[]=` form."""


def _listify(value: Any, name: str | None) -> Any:
    if isinstance(value, _Appended):
        return [_listify(v, None) for v in value]
    if isinstance(value, dict):
        converted = {k: _listify(v, k) for k, v in value.items()}
        if name not in FREE_FORM_HASHES and converted and all(k.isdigit() for k in converted):
            indexes = sorted(int(k) for k in converted)
            if indexes == list(range(len(indexes))):
                return [converted[str(i)] for i in indexes]
        return converted
    return value


def flatten(data: Mapping[str, Any], prefix: str | None = None) -> Iterator[tuple[str, str]]:
    """The inverse, in stripe-python's style (indexed arrays, lower-case booleans, None skipped)."""
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            yield from flatten(value, name)
        elif isinstance(value, (list, tuple)):
            yield from flatten({str(i): v for i, v in enumerate(value)}, name)
        elif isinstance(value, bool):
            yield name, "true" if value else "false"
        else:
            yield name, str(value)


def encode(data: Mapping[str, Any]) -> str:
    """A form body for `data`, brackets left readable as stripe-python leaves them."""
    return urlencode(list(flatten(data))).replace("%5B", "[").replace("%5D", "]")
