"""The HTML report in a real headless browser (Debian package `chromium`).

The page is rendered from constructed data, opened from a file:// URL with the
network features of chromium turned off, and checked twice: the screenshot
exists and is not blank, and the DOM chromium built holds the three charts.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.unit.test_report_render import sample_report
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.report import html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        CHROMIUM is None, reason="needs a headless browser: Debian package chromium"
    ),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    # run() waits for the browser and kills it on timeout: nothing outlives the test.
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def png_colours(path: Path) -> int:
    """Distinct pixel rows in the PNG (zlib-decoded scanlines): 1 means a blank page."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    width = struct.unpack(">I", data[16:20])[0]
    stride = 1 + width * 4 if data[25] == 6 else 1 + width * 3
    return len({raw[i + 1 : i + stride] for i in range(0, len(raw), stride)})


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(html.render(sample_report(), top=15), encoding="utf-8")
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000
    assert png_colours(shot) > 50  # many different rows: text and charts, not a blank page
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    for chart in ('id="strength-histogram"', 'id="funnel"', 'id="top-timeline"'):
        assert chart in dom
    assert dom.count('class="bar"') == 10 and dom.count('class="span"') == 15
    keep = Path("/tmp/vinculo-report-screenshot.png")
    shutil.copy(shot, keep)  # for a human to look at after the run


def _named_report() -> html.ReportData:
    data = sample_report()
    names = ["Íñigo Fernández Martínez", "Ana López", "Zoë Ángel-Castellanos de la Fuente"]
    for i, r in enumerate(data.relationships):
        r.contact_name = f"{names[i % 3]} {i}"
        r.contact_company, r.contact_position = "Acme", "CTO"
        r.trend = pb.TREND_STRENGTHENING
        r.score = 0.973
    return data


MEASURE = """<script>
const svg = document.getElementById("top-timeline");
const width = svg.viewBox.baseVal.width;
let clipped = 0;
for (const text of svg.querySelectorAll("text")) {
  const box = text.getBBox();
  if (box.x < 0 || box.x + box.width > width) clipped += 1;
}
document.body.setAttribute("data-clipped", String(clipped));
document.body.setAttribute("data-texts", String(svg.querySelectorAll("text").length));
</script>"""


def test_report_with_names_and_no_clipped_timeline_labels_in_chromium(tmp_path: Path) -> None:
    data = _named_report()
    page = tmp_path / "named.html"
    # the page itself has no script; the measuring one is added for this check only
    page.write_text(
        html.render(data, top=15).replace("</body>", MEASURE + "</body>"), encoding="utf-8"
    )
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert 'data-texts="32"' in dom  # 15 names, 15 scores with trends, two dates
    assert 'data-clipped="0"' in dom
    assert "Íñigo Fernández Martínez 0" in dom and "CTO, Acme" in dom
    shot = tmp_path / "named.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    shutil.copy(shot, Path("/tmp/vinculo-report-names.png"))  # for a human to look at
