"""The static web leaderboard (``leaderboard/site``), built from the fixture records
(``tests/data/records``) with hostile text added, then opened from disk in a real headless Chromium:
no console error, nothing fetched from outside the site, a click on a header reorders the rows, a
filter hides rows, a cell page opens with its curves. Screenshots are kept under
``tests/artifacts/`` (git-ignored). Needs Debian's ``chromium`` and the ``playwright`` package
(``pip install -e .[test]``); skipped with the reason otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leaderboard.__main__ import main as cli
from leaderboard.build import write_leaderboard
from leaderboard.site.build import cell_file

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "records"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: text a record may hold that must reach the page as text, never as markup
HOSTILE = '</script><img src=x onerror="window.__pwned=1"> & \'q\' "Q"'
FAILED = "digits/focal__1p__seed0__596c806aa1d65da3.json"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    results = root / "results"
    shutil.copytree(FIXTURES, results)
    rec = json.loads((results / FAILED).read_text())
    rec["error"]["message"] = HOSTILE
    (results / FAILED).write_text(json.dumps(rec))
    (root / "lb").mkdir()
    write_leaderboard(results, root / "lb" / "README.md", site=root / "lb" / "_site")
    return root / "lb" / "_site"


def test_site_is_complete_and_self_contained(site: Path) -> None:
    index = (site / "index.html").read_text()
    for asset in ("site.css", "site.js", "plotly.min.js"):
        assert (site / "assets" / asset).stat().st_size > 0
    assert "http://" not in index and "https://" not in index  # nothing fetched from outside
    pages = sorted(p.name for p in (site / "cell").glob("*.html"))
    assert cell_file(("finetune", "1p", "em", "", "voc")) in pages and len(pages) > 10
    assert all(
        f'href="cell/{p}"' in index for p in pages if "dw_voc" not in p
    )  # every cell linked (not the left-out one)
    for png in (site / "figures").glob("*.png"):
        assert f'src="figures/{png.name}"' in index
    # a cell page: its runs, configuration, provenance and per-epoch curves (embedded as JSON)
    em = (site / "cell" / cell_file(("finetune", "1p", "em", "", "voc"))).read_text()
    assert "configuration" in em and "provenance" in em and '"curves":' in em and '"val_map"' in em


def test_text_from_records_is_escaped(site: Path) -> None:
    """An error message holding markup appears escaped in the HTML and as \\u escapes in the JSON."""
    pages = [site / "index.html", *(site / "cell").glob("*.html")]
    text = "\n".join(p.read_text() for p in pages)
    assert "<img src=x" not in text and text.count("</script>") == text.count("<script")
    assert "&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt; &amp; &#x27;q&#x27;" in text


def test_cli_writes_the_site_beside_the_markdown(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(FIXTURES / "voc", results / "voc")
    assert cli(["--results-dir", str(results)]) == 0
    assert (results / "_leaderboard" / "_site" / "index.html").is_file()
    shutil.rmtree(results / "_leaderboard")
    assert cli(["--results-dir", str(results), "--no-site"]) == 0
    assert (results / "_leaderboard" / "README.md").is_file() and not (results / "_leaderboard" / "_site").exists()
    assert cli(["--results-dir", str(results), "--site", str(tmp_path / "web")]) == 0
    assert (tmp_path / "web" / "index.html").is_file()


# -- in a real browser -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the browser test needs playwright (pip install -e .[test])"
    )
    if not Path(CHROMIUM).is_file():
        pytest.skip("the browser test needs Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _methods(table) -> list[str]:  # type: ignore[no-untyped-def]
    return table.locator("tbody tr:visible td.method").all_inner_texts()


def test_site_in_a_browser(site: Path, browser) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file://", "data:", "blob:")) else None)
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector(".chart .main-svg")  # plotly drew the charts from the shipped asset

    table = page.locator("table.main").first
    before = _methods(table)
    header = table.locator("thead th", has_text="voc").first  # the voc mean column
    header.click()
    after = _methods(table)
    assert sorted(after) == sorted(before) and after != before
    assert header.get_attribute("aria-sort") == "descending"
    means = [
        float(v)
        for v in table.locator("tbody tr td:nth-child(5)").evaluate_all(
            "tds => tds.map(td => td.dataset.v).filter(v => v !== '')"
        )
    ]
    assert means == sorted(means, reverse=True)
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    table.locator("thead th", has_text="#").first.click()  # back to the paper's order
    table.locator("thead th", has_text="#").first.click()
    assert _methods(table) == before

    # filters: without the oracles and variants, those rows are hidden
    rows = table.locator("tbody tr:visible").count()
    page.locator("#filters input[value=oracle]").uncheck()
    page.locator("#filters input[value=variant]").uncheck()
    assert table.locator("tbody tr:visible").count() < rows
    assert page.locator("tr[data-kind=oracle]:visible, tr[data-variant='1']:visible").count() == 0
    page.locator("#search").fill("em")
    assert all("em" in m for m in _methods(table))
    page.locator("#search").fill("")
    page.locator("#filters input[value=oracle]").check()
    page.locator("#filters input[value=variant]").check()
    assert page.evaluate("window.__pwned") is None
    assert page.get_by_text(HOSTILE, exact=False).count() >= 1  # shown as text
    page.screenshot(path=str(ARTIFACTS / "site.png"), full_page=True)

    # a cell page opens from its mean, with its runs and curves
    table.locator("tbody td a", has_text="±").first.click()
    page.wait_for_selector("#curves .main-svg")
    assert page.locator("h1").inner_text().startswith("finetune/")
    assert page.locator("table.sortable tbody tr").count() >= 2
    page.locator("#metric").select_option("test_map")
    page.screenshot(path=str(ARTIFACTS / "site_cell.png"), full_page=True)
    assert errors == [] and outside == []
    page.close()
