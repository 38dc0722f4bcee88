"""Reading the CSV files of a LinkedIn export the way they really come.

Exports differ between years and accounts: a byte-order mark or none, UTF-8 or
a Windows code page, notes above the header (Connections.csv), columns renamed
or missing, and at least three date styles. Everything here tolerates those
and reports what it cannot read instead of failing.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import unquote

from vinculo_apps.importers.common import SkipLog

_CHUNK = 1 << 20
HEADER_SEARCH_ROWS = 30
# Tried in order; the one that worked last is tried first next time (a file uses one style).
DATE_FORMATS: list[str] = [
    "%Y-%m-%d %H:%M:%S",
    "%d %b %Y",
    "%m/%d/%y, %I:%M %p",
    "%m/%d/%Y, %I:%M %p",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%y %I:%M %p",
    "%m/%d/%y, %H:%M",
    "%m/%d/%y",
    "%m/%d/%Y",
    "%d %B %Y",
    "%d-%b-%y",
    "%b %d, %Y",
    "%d/%m/%Y %H:%M",
]
_ZONE_SUFFIX = re.compile(r"\s*(UTC|GMT|Z)$", re.IGNORECASE)


def parse_date(text: str) -> float:
    """Unix seconds from any date style seen in exports; times without a zone are UTC."""
    # Newer exports put a narrow no-break space before AM/PM.
    cleaned = _ZONE_SUFFIX.sub("", text.replace("\u202f", " ").replace("\xa0", " ").strip())
    if not cleaned:
        raise ValueError("empty date")
    for i, fmt in enumerate(DATE_FORMATS):
        try:
            parsed = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        if i:
            DATE_FORMATS.insert(0, DATE_FORMATS.pop(i))
        return parsed.replace(tzinfo=UTC).timestamp()
    try:
        iso = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"unrecognised date {text!r}") from None
    return (iso if iso.tzinfo else iso.replace(tzinfo=UTC)).timestamp()


def header_key(name: str) -> str:
    """'Connected On', 'connected_on' and ' CONNECTED ON' are one column."""
    return " ".join(name.replace("_", " ").lower().split())


def fix_mojibake(text: str) -> str:
    """'JosÃ©' (UTF-8 read as Latin-1, seen in some exports) back to 'José'."""
    if "Ã" not in text and "Â" not in text:
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def normalise_name(name: str) -> str:
    """Lower case, no accents, single spaces: how names are matched across files."""
    decomposed = unicodedata.normalize("NFKD", fix_mojibake(name))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w\s'-]", " ", plain.lower()).split())


def profile_slug(url: str) -> str:
    """'https://www.linkedin.com/in/Ana-Silva/?x=1' -> 'ana-silva'; '' when no profile URL."""
    # Percent-encoded and literal forms of one URL are one slug: '%C3%AD' is 'í'.
    text = (
        unicodedata.normalize("NFC", unquote(url.strip()))
        .lower()
        .split("?")[0]
        .split("#")[0]
        .rstrip("/")
    )
    if not text:
        return ""
    marker = text.find("/in/")
    if marker >= 0:
        return text[marker + 4 :].split("/")[0]
    return re.sub(r"^(https?://)?(www\.)?", "", text)


def find_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    """A file by its base name, in any folder of the ZIP, ignoring case."""
    wanted = name.lower()
    for info in archive.infolist():
        if info.filename.replace("\\", "/").rsplit("/", 1)[-1].lower() == wanted:
            return info
    return None


def detect_encoding(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes, else Windows-1252.

    Checked in one streaming pass so the real read never restarts half-way.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with archive.open(info) as raw:
        try:
            while chunk := raw.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def read_rows(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, anchors: tuple[str, ...], skips: SkipLog
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row keyed by `header_key`) for every data row of a CSV member.

    The header is the first row holding every `anchors` column; lines above it
    (LinkedIn's notes) are ignored. Missing columns read as ''.
    """
    encoding = detect_encoding(archive, info)
    name = info.filename.rsplit("/", 1)[-1]
    with archive.open(info) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        reader = csv.reader(text)
        header: list[str] | None = None
        for row in reader:
            keys = [header_key(cell) for cell in row]
            if all(anchor in keys for anchor in anchors):
                header = keys
                break
            if reader.line_num > HEADER_SEARCH_ROWS:
                break
        if header is None:
            skips.skip(name, f"no header with columns {', '.join(anchors)}; file ignored")
            return
        width = len(header)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > width:
                skips.skip(f"{name}:{reader.line_num}", "more cells than header columns")
                continue
            yield (
                reader.line_num,
                {key: row[i].strip() if i < len(row) else "" for i, key in enumerate(header)},
            )
