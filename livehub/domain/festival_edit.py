"""Admin changes to a running festival (pure, no I/O): edits of records, CSV rows, the per-row report.

The festival file is the seed; admin edits are an overlay of whole records, by section and id
(``stores`` / ``b1-s9`` -> the store's full record).  The festival a node serves is always
``build_festival`` of the seed's records with the overlay's records put in their place (same id)
or added: the same validation as the file, so an edit can never produce a festival the file
could not.  An edit names a record's id and the fields it changes; fields it leaves out keep
their current values (a new record must give every required field).

What an edit may not do (refused with the record's field): remove anything (no deletions: a
venue's channel may have viewers, an order may name a store); change a venue's ``kind`` or
``brand``, a brand's ``venue``, a product's ``brand`` or a store's ``brand`` (the channel, the
brand's GEO index and the orders already routed stay right); change the ``[festival]`` table
(a restart with a new file does that); give a host a plaintext ``key`` outside demo mode or a
``key_hash_env`` / ``key_hash_file`` (the hash itself, from ``livehub hash-key``, is the edit).
Giving a host ``key_hash`` replaces every hash it had (key rotation: the old key stops working)
and drops a plaintext ``key``; giving a store ``stock`` sets the skus it names, the others keep
their units.

CSV imports (:func:`parse_csv`) turn rows into the same edits; :func:`stage` validates a whole
batch and answers every bad row by its line number, field and reason.  A batch applies whole or
not at all.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from livehub.domain.festival import SECTIONS, FestivalError, build_festival
from livehub.domain.schema import type_name
from livehub.domain.topology import Festival

EDITABLE = SECTIONS  # venues, hosts, brands, products, stores, guides
ID_FIELD = {section: ("sku" if section == "products" else "id") for section in SECTIONS}
FIXED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "venues": ("kind", "brand"),
    "brands": ("venue",),
    "products": ("brand",),
    "stores": ("brand",),
}
HOST_KEY_SOURCES = ("key_hash_env", "key_hash_file")
CSV_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "stores": ("id", "brand", "name", "lat", "lon", "radius_km", "stock", "address"),
    "guides": ("id", "name", "store", "brand", "share_code"),
}
_NUMBERS = {"lat": float, "lon": float, "radius_km": float}
_WHERE = re.compile(r"^(?P<section>[a-z]+)\[(?P<index>\d+)\](?:\.(?P<field>.+))?$")

Edits = dict[str, dict[str, dict[str, Any]]]  # section -> record id -> the record's full fields


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad row (or field) of an edit: its ``line`` (of a CSV file; of a JSON edit: the record's
    1-based position; 0: the whole batch, ``field`` then names the festival's key), field, reason."""

    line: int
    field: str
    reason: str
    section: str = ""  # the record's section ("": the whole batch)
    at: str = ""  # the record's id, when known

    def as_dict(self) -> dict[str, Any]:
        return {"section": self.section, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Staged:
    """A validated batch: the festival it makes, and its records, to store in the overlay."""

    festival: Festival
    records: Edits  # section -> record id -> full record, to store in the overlay
    created: int
    updated: int


class EditRefused(Exception):
    """A batch with problems: nothing of it applies."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


def festival_doc(festival: Festival) -> dict[str, Any]:
    """The festival as a config document (the inverse of ``build_festival``; host keys included)."""
    f = festival
    hosts = []
    for h in f.hosts.values():
        host: dict[str, Any] = {"id": h.id, "venue": h.venue, "name": h.name}
        if h.key:
            host["key"] = h.key
        if h.key_hashes:
            host["key_hash"] = list(h.key_hashes)
        hosts.append(host)
    return {
        "festival": {"id": f.id, "title": f.title, "main_venue": f.main_venue,
                     "commission_rate": f.commission_rate, "pickup_search_km": list(f.pickup_search_km)},
        "venues": [{"id": v.id, "kind": v.kind, "title": v.title, **({"brand": v.brand} if v.brand else {})}
                   for v in f.venues.values()],
        "hosts": hosts,
        "brands": [{"id": b.id, "name": b.name, "venue": b.venue,
                    "warehouse": {"lat": b.warehouse.lat, "lon": b.warehouse.lon}} for b in f.brands.values()],
        "products": [{"sku": p.sku, "brand": p.brand, "title": p.title, "price_cents": p.price_cents,
                      "list_price_cents": p.list_price_cents, **({"image_url": p.image_url} if p.image_url else {})}
                     for p in f.products.values()],
        "stores": [{"id": s.id, "brand": s.brand, "name": s.name, "lat": s.lat, "lon": s.lon,
                    "radius_km": s.radius_km, "stock": dict(s.stock), **({"address": s.address} if s.address else {})}
                   for s in f.stores.values()],
        "guides": [{"id": g.id, "name": g.name, "store": g.store, "brand": g.brand, "share_code": g.share_code}
                   for g in f.guides.values()],
    }  # fmt: skip


def _overlaid(seed: Festival, edits: Edits) -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
    """The seed's document with the overlay's records in place (same id) or appended, and the id at
    each index of an overlay record."""
    doc = festival_doc(seed)
    placed: dict[tuple[str, int], str] = {}
    for section, records in edits.items():
        if section not in EDITABLE:  # only a hand-written overlay has one
            raise FestivalError("admin edits", [(section, f"not a section ({', '.join(EDITABLE)})")])
        rows: list[dict[str, Any]] = doc[section]
        at = {row[ID_FIELD[section]]: i for i, row in enumerate(rows)}
        for record_id, record in records.items():
            i = at.get(record_id)
            if i is None:
                i = at[record_id] = len(rows)
                rows.append(record)
            else:
                rows[i] = record
            placed[(section, i)] = record_id
    return doc, placed


def apply_edits(seed: Festival, edits: Edits, source: str = "<admin edits>") -> Festival:
    """The festival of ``seed`` with the overlay ``edits``; FestivalError if they do not fit together."""
    if not edits:
        return seed
    doc, _ = _overlaid(seed, edits)
    return build_festival(doc, source)


Batch = Mapping[str, Sequence[tuple[int, dict[str, Any]]]]  # section -> (line, fields) rows


def stage(
    seed: Festival, edits: Edits, current: Festival, batch: Batch, *, demo: bool = False,
    problems: Iterable[RowProblem] = (),
) -> Staged:  # fmt: skip
    """Validate a batch of edits against the running festival (``current``: ``seed`` with the
    overlay ``edits``); raise EditRefused with every problem.

    ``batch`` maps sections to (line, fields) rows (the line of a CSV file, the 1-based position
    of a record in its section of a JSON edit); each names a record's id and the fields it sets,
    merged onto the current record.  One batch may edit several sections (a new brand and its
    venue name each other).  ``problems`` found earlier (by :func:`parse_csv`) are reported too.
    """
    found = list(problems)
    unknown = [section for section in batch if section not in EDITABLE]
    if unknown:
        raise EditRefused([RowProblem(0, "section", f"must be one of {', '.join(EDITABLE)}, got {unknown[0][:40]!r}")])
    doc_now = festival_doc(current)
    records: Edits = {}
    lines: dict[tuple[str, str], int] = {}
    created = 0
    for section, rows in batch.items():
        id_field = ID_FIELD[section]
        now = {row[id_field]: row for row in doc_now[section]}
        out = records.setdefault(section, {})
        for line, fields in rows:
            record_id = fields.get(id_field)
            if not isinstance(record_id, str) or not record_id:
                reason = "missing required key" if record_id is None else f"must be an id, got {type_name(record_id)}"
                found.append(RowProblem(line, id_field, reason, section))
                continue
            if (section, record_id) in lines:
                found.append(RowProblem(line, id_field, f"{record_id!r} is also on line {lines[section, record_id]}",
                                        section))  # fmt: skip
                continue
            lines[section, record_id] = line
            before = now.get(record_id)
            bad = _refused_fields(section, fields, before, demo)
            if bad:
                found += [RowProblem(line, name, reason, section) for name, reason in bad]
                continue
            record = {**before, **fields} if before is not None else dict(fields)
            if before is not None and isinstance(fields.get("stock"), dict):  # the skus it names; others kept
                record["stock"] = {**before.get("stock", {}), **fields["stock"]}
            if section == "hosts" and "key_hash" in fields:
                record.pop("key", None)  # a new hash replaces every key the host had
            created += before is None
            out[record_id] = record
    # The rows refused above are left out and what the others have is reported with them.  The
    # festival's checks look at references only once every record is well-formed, so a batch with
    # bad records is checked once more without them: one answer lists both kinds.
    checking: Edits = {section: dict(of_section) for section, of_section in records.items()}
    for _ in range(2):
        merged: Edits = {section: dict(of_section) for section, of_section in edits.items()}
        for section, of_section in checking.items():
            merged.setdefault(section, {}).update(of_section)
        doc, placed = _overlaid(seed, merged)
        try:
            festival = build_festival(doc, "admin edit")
        except FestivalError as exc:
            more = _row_problems(exc, placed, lines)
            found += more
            refused = {(p.section, p.at) for p in more if p.at}
            if not any(record_id in checking.get(section, {}) for section, record_id in refused):
                break
            checking = {section: {k: v for k, v in of_section.items() if (section, k) not in refused}
                        for section, of_section in checking.items()}  # fmt: skip
            continue
        if not found:
            count = sum(len(rows) for rows in records.values())
            return Staged(festival, records, created, count - created)
        break
    raise EditRefused(sorted(found, key=_by_line))


def _by_line(problem: RowProblem) -> tuple[str, int]:
    return problem.section, problem.line


def _refused_fields(
    section: str, fields: Mapping[str, Any], before: Mapping[str, Any] | None, demo: bool
) -> list[tuple[str, str]]:
    bad = [(name, "must not be null: leave the field out to keep its value") for name in _nulls(fields, "")]
    if before is not None:
        for name in FIXED_FIELDS.get(section, ()):
            if name in fields and fields[name] != before.get(name):
                bad.append((name, f"cannot change while the festival runs (is {before.get(name)!r})"))
    if section == "hosts":
        if "key" in fields and not demo:
            bad.append(("key", "plaintext keys are for demo mode only: give key_hash (livehub hash-key)"))
        bad += [(name, "not for admin edits: give key_hash (livehub hash-key)")
                for name in HOST_KEY_SOURCES if name in fields]  # fmt: skip
    return bad


def _nulls(value: Any, where: str) -> Iterable[str]:
    """The keys of the JSON nulls in ``value`` (a festival file has none: TOML cannot write one)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nulls(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nulls(item, f"{where}[{i}]")
    elif value is None:
        yield where


def _row_problems(
    exc: FestivalError, placed: Mapping[tuple[str, int], str], lines: Mapping[tuple[str, str], int]
) -> list[RowProblem]:
    """``build_festival``'s problems as rows of this batch: ``stores[12].lat`` and ``stores.b1-s9.brand``
    both become (the line of that record, the field); a problem elsewhere is on line 0 with its key."""
    out: list[RowProblem] = []
    for key, reason in exc.problems:
        section, _, rest = key.partition(".")
        record_id: str | None = None
        field = key
        where = _WHERE.match(key)
        if where is not None:
            section = where["section"]
            record_id = placed.get((section, int(where["index"])))
            field = where["field"] or ""
        elif rest:  # ids may hold dots: the longest id of this batch before a dot
            for end in reversed([i for i, c in enumerate(rest) if c == "."]):
                if (section, rest[:end]) in lines:
                    record_id, field = rest[:end], rest[end + 1 :]
                    break
        line = lines.get((section, record_id)) if record_id is not None else None
        if line is not None and record_id is not None:
            out.append(RowProblem(line, field, reason, section, record_id))
        else:
            out.append(RowProblem(0, key, reason))
    return out


def parse_csv(section: str, text: str, max_rows: int) -> tuple[list[tuple[int, dict[str, Any]]], list[RowProblem]]:
    """The rows of a CSV file of ``stores`` or ``guides`` and the problems found reading them
    (:func:`_read_csv`), each problem of ``section``."""
    rows, problems = _read_csv(section, text, max_rows)
    return rows, [dataclasses.replace(p, section=section) for p in problems]


def _read_csv(section: str, text: str, max_rows: int) -> tuple[list[tuple[int, dict[str, Any]]], list[RowProblem]]:
    """The rows of a CSV file of ``stores`` or ``guides`` (header first) as (line, fields) edits, and
    the problems found reading them.  An empty cell leaves the field out (an existing record keeps
    its value); ``lat``, ``lon`` and ``radius_km`` are read as numbers and ``stock`` as
    ``sku=units;sku=units`` (units an integer), anything else unreadable stays text for the
    festival's own checks to report."""
    columns = CSV_COLUMNS.get(section)
    if columns is None:
        return [], [RowProblem(0, "section", f"CSV imports are of {' or '.join(CSV_COLUMNS)}, not {section[:40]!r}")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return [], [RowProblem(1, "", "empty file: the first line names the columns")]
    except csv.Error as exc:
        return [], [RowProblem(1, "", f"not CSV: {exc}")]
    unknown = [name for name in header if name not in columns]
    if unknown or ID_FIELD[section] not in header or len(set(header)) != len(header):
        reason = f"columns must be some of {', '.join(columns)} (with {ID_FIELD[section]}, each once)"
        return [], [RowProblem(1, ",".join(unknown)[:80] or "", reason)]
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[RowProblem] = []
    line = reader.line_num + 1
    count = 0
    try:
        for cells in reader:
            count += 1
            if count > max_rows:
                problems.append(RowProblem(line, "", f"more than {max_rows} rows: import the file in parts"))
                break
            if not any(cell.strip() for cell in cells):
                line = reader.line_num + 1
                continue
            if len(cells) != len(header):
                problems.append(RowProblem(line, "", f"has {len(cells)} cells, the header {len(header)}"))
            else:
                fields: dict[str, Any] = {}
                for name, cell in zip(header, cells, strict=True):
                    cell = cell.strip()
                    if cell:
                        fields[name] = _cell(name, cell, line, problems)
                rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as exc:
        problems.append(RowProblem(line, "", f"not CSV: {exc}"))
    return rows, problems


def _cell(name: str, cell: str, line: int, problems: list[RowProblem]) -> Any:
    kind = _NUMBERS.get(name)
    if kind is not None:
        try:
            return kind(cell)
        except ValueError:
            return cell  # reported by the festival's checks ("must be a number, got string")
    if name == "stock":
        stock: dict[str, Any] = {}
        for item in cell.split(";"):
            sku, sep, units = item.partition("=")
            if not sep:
                problems.append(RowProblem(line, "stock", f"must be sku=units;sku=units, got {item[:40]!r}"))
                continue
            units = units.strip()
            stock[sku.strip()] = int(units) if units.lstrip("-").isdigit() else units
        return stock
    return cell
