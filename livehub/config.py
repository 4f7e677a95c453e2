"""Read config files from disk: the festival TOML file into a validated Festival.

The validation and building are pure (:func:`livehub.domain.festival.build_festival`);
this module is the file I/O around them: reading, TOML and UTF-8 decoding, and
turning read errors into the same :class:`~livehub.domain.festival.FestivalError`.
"""

from __future__ import annotations

import logging
import time
import tomllib
from pathlib import Path

from livehub.domain.festival import FestivalError, build_festival
from livehub.domain.topology import Festival

__all__ = ["FestivalError", "load_festival"]

log = logging.getLogger("livehub.config")


def load_festival(path: str | Path) -> Festival:
    """Read, validate and build the festival in ``path``; raise FestivalError if it is unusable."""
    source = str(path)
    started = time.perf_counter()
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise FestivalError(source, [("", f"not valid TOML: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise FestivalError(source, [("", f"not UTF-8 text: {exc}")]) from exc
    except OSError as exc:
        raise FestivalError(source, [("", f"cannot read the file: {exc.strerror or exc}")]) from exc
    festival = build_festival(doc, source)
    log.info(
        "festival %s from %s: %d venues, %d brands, %d products, %d stores, %d guides in %.0f ms",
        festival.id, source, len(festival.venues), len(festival.brands), len(festival.products),
        len(festival.stores), len(festival.guides), (time.perf_counter() - started) * 1000,
    )  # fmt: skip
    return festival
