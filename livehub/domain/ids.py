"""The id grammars (pure): entity ids, user ids and request ids, each defined once.

* **Entity ids** - venue, host, brand, sku, store, guide, share code, sale,
  coupon: 1-64 characters of ``[A-Za-z0-9_.-]``.  The festival loader, the sale
  and coupon specs, the Redis adapters and the inbound protocol all check this
  one grammar, so every id a festival can name can be put on sale and bought.
  It has no ``{`` or ``}`` (an id can never break a Redis key's hash tag,
  :mod:`livehub.store.keys`) and no ``:``, the separator of derived names
  (``host:<id>`` and ``room:<venue>`` channels, ``<sale>:r<hex>`` reservation
  ids), so an id can never alias one of those.
* **User ids** - a token's subject: 1-64 printable characters without spaces.
* **Request ids** - a buy's idempotency key: 1-64 printable ASCII characters
  without spaces.
"""

from __future__ import annotations

import re
from typing import TypeGuard

MAX_ID_CHARS = 64
ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ID_CHARS = "1-64 characters of A-Z a-z 0-9 _ . -"  # the grammar, as error messages say it
REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,64}")  # printable ASCII, no space

_match_id = ID_RE.fullmatch


def valid_id(value: object) -> TypeGuard[str]:
    """An entity id (venue, sku, sale, coupon, ...): 1-64 characters of ``[A-Za-z0-9_.-]``."""
    return type(value) is str and _match_id(value) is not None


def valid_user_id(value: object) -> bool:
    """A user id (a token's subject): 1-64 printable characters without spaces."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isprintable() and " " not in value


def valid_request_id(value: object) -> bool:
    """A buy's request id: 1-64 printable ASCII characters without spaces."""
    return isinstance(value, str) and REQUEST_ID_RE.fullmatch(value) is not None
