"""Who a contact is, for people to read: name, company, position (never scored).

Events may carry the contact's display name, company and position
(`InteractionEvent.contact_name`, ...). The newest event that sets a field
wins, field by field; the store keeps one small row per relationship that has
any, written in the same transaction as the state.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

SCHEMA = """
CREATE TABLE IF NOT EXISTS contact_profiles (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    name TEXT NOT NULL, name_time REAL NOT NULL,
    company TEXT NOT NULL, company_time REAL NOT NULL,
    position TEXT NOT NULL, position_time REAL NOT NULL,
    PRIMARY KEY (owner, contact)
) WITHOUT ROWID;
"""
FIELDS = ("name", "company", "position")
# (name, time), (company, time), (position, time); "" / -inf where unset
Profile = tuple[tuple[str, float], tuple[str, float], tuple[str, float]]
EMPTY: Profile = (("", float("-inf")), ("", float("-inf")), ("", float("-inf")))

_UPSERT = (
    "INSERT INTO contact_profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (owner, contact) DO UPDATE SET "
    + ", ".join(
        f"{f} = CASE WHEN excluded.{f}_time >= {f}_time AND excluded.{f} != '' "
        f"THEN excluded.{f} ELSE {f} END, "
        f"{f}_time = CASE WHEN excluded.{f}_time >= {f}_time AND excluded.{f} != '' "
        f"THEN excluded.{f}_time ELSE {f}_time END"
        for f in FIELDS
    )
)


def merged(values: Sequence[str], t: float, before: Profile = EMPTY) -> Profile:
    """`before` updated with a name, company and position of time t (unset: "")."""
    fields = tuple(
        (value, t) if value and t >= old[1] else old
        for value, old in zip(values, before, strict=True)
    )
    return fields  # type: ignore[return-value]


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def write(conn: sqlite3.Connection, profiles: Mapping[tuple[str, str], Profile]) -> None:
    conn.executemany(
        _UPSERT,
        (
            (owner, contact, *(x for pair in profile for x in pair))
            for (owner, contact), profile in profiles.items()
        ),
    )


def read(conn: sqlite3.Connection, owner: str, contacts: Iterable[str]) -> dict[str, Profile]:
    """Profiles of these contacts of `owner` that have one."""
    wanted = list(contacts)
    found: dict[str, Profile] = {}
    for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT contact, name, name_time, company, company_time, position, position_time "
            f"FROM contact_profiles WHERE owner = ? AND contact IN ({marks})",
            (owner, *chunk),
        ).fetchall()
        for row in rows:
            found[row[0]] = ((row[1], row[2]), (row[3], row[4]), (row[5], row[6]))
    return found


_READ_KEYS = """
SELECT p.owner, p.contact, name, name_time, company, company_time, position, position_time
FROM json_each(?) AS wanted CROSS JOIN contact_profiles AS p
ON p.owner = json_extract(wanted.value, '$[0]') AND p.contact = json_extract(wanted.value, '$[1]')
"""


def read_keys(
    conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Profile]:
    """Profiles of these (owner, contact) relationships that have one, in one query."""
    wanted = json.dumps(list(keys))
    return {
        (row[0], row[1]): ((row[2], row[3]), (row[4], row[5]), (row[6], row[7]))
        for row in conn.execute(_READ_KEYS, (wanted,))
    }


def merge(older: Profile, newer: Profile) -> Profile:
    """Field by field, as the store's upsert merges: a set field of newer or equal time wins."""
    merged = tuple(
        new if new[0] and new[1] >= old[1] else old for old, new in zip(older, newer, strict=True)
    )
    return merged  # type: ignore[return-value]
