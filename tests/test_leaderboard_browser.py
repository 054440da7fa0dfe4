"""The built site in headless Chromium, driven over the Chrome DevTools Protocol: tables render,
a header click sorts, no request leaves file://, the CSP blocks nothing of ours, XSS payloads in
records stay inert on every page. Screenshots are saved beside each test's temporary folder."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.test_leaderboard_records import grid, make_record, write_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="websocket-client (the dev extra) drives Chromium over CDP")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", "--window-size=1280,900",
         "--hide-scrollbars", "--mute-audio"]


class Browser:
    """A fresh headless Chromium and one page, spoken to over CDP (flattened session on the browser socket)."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().split()) == 2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port, path = port_file.read_text().split()
        self.socket = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.session = None
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.width(1280)

    def width(self, pixels: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=pixels, height=900, deviceScaleFactor=1, mobile=False)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"id": next(self.ids), "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.socket.settimeout(60)  # wait_for may have shortened it
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(method)

    def open(self, path: Path) -> None:
        self.events.clear()
        self.send("Page.navigate", url=path.as_uri())
        self.wait_for("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
                      " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path: Path) -> Path:
        self.js("window.scrollTo(0, 0)")
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def console_errors(self) -> list[str]:
        return [e["params"]["entry"]["text"] for e in self.events
                if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]

    def close(self) -> None:
        if getattr(self, "socket", None):
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


NO_NETWORK = ("file://", "data:image/svg+xml;base64,")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Complete runs of three inits on two backbones, a missing seed, a diverged run and a contaminated submission."""
    folder = tmp_path_factory.mktemp("browser-site")
    records = grid(backbones=("resnet18", "resnet50"))
    records = [r for r in records if not (r["init"] == "cpmid" and r["backbone"] == "resnet50" and r["seed"] == 2)]
    records += [make_record(t, "scratch", "vit_tiny_patch16_224", s, status="diverged" if s == 1 else "ok")
                for t in ("synth-xray-cls", "synth-histo-cls") for s in (0, 1, 2)]
    records += [make_record(t, "sub-leaky", "resnet18", s, skill=0.3, contaminated=True)
                for t in ("synth-xray-cls", "synth-histo-cls") for s in (0, 1, 2)]
    write_results(folder / "results", records)
    invoke("leaderboard", "build", "--results", str(folder / "results"), "--out", str(folder / "site"))
    return folder / "site"


def _column(browser: Browser, table: str, index: int) -> list[str]:
    return browser.js(f"Array.from(document.querySelectorAll('#{table} tbody tr')).map(r => r.cells[{index}].getAttribute('data-v'))")


def test_the_site_renders_sorts_and_stays_offline_in_chromium(browser: Browser, site: Path, tmp_path: Path):
    browser.open(site / "index.html")
    rows = browser.js("Array.from(document.querySelectorAll('#overview tbody tr')).map(r => r.innerText.replace(/\\s+/g, ' '))")
    assert len(rows) == 3 * 2 + 2  # (3 inits × 2 backbones) + diverged vit + contaminated submission
    assert rows[0].startswith("1 cpmid resnet18") and "±" in rows[0] and "CI" in rows[0]
    text = browser.js("document.body.innerText")
    for state in ("incomplete", "diverged", "contaminated"):
        assert state in text
    assert "normalised task score" in text and "(m − m" in text
    assert browser.js("getComputedStyle(document.querySelector('table.board th')).backgroundColor") != "rgba(0, 0, 0, 0)"
    browser.screenshot(tmp_path / "screenshots" / "overview.png")

    browser.open(site / "task" / "synth-xray-cls.html")
    inits = _column(browser, "results", 1)
    browser.click("#results thead th:nth-child(2) button")
    assert _column(browser, "results", 1) == sorted(inits, key=str.lower)
    browser.click("#results thead th:nth-child(5) button")  # balanced accuracy: best first, rows without a number last
    values = _column(browser, "results", 4)
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True) and values[len(numbers):] == [""] * (len(values) - len(numbers))
    assert browser.js("document.querySelector('#results thead th:nth-child(5)').getAttribute('aria-sort')") == "descending"
    browser.click("#results thead th:nth-child(5) button")
    assert [float(v) for v in _column(browser, "results", 4) if v] == sorted(numbers)
    browser.screenshot(tmp_path / "screenshots" / "task-sorted.png")
    _per_seed_values_are_the_ones_behind_each_mean(browser)

    for page in sorted(site.rglob("*.html")):
        browser.open(page)
        assert all(url.startswith(NO_NETWORK) for url in browser.requested_urls()), page
        assert browser.console_errors() == [], page  # a CSP violation (inline style, inline script) would show here
        assert browser.js("document.querySelectorAll('table tbody tr').length") > 0 or page.name == "efficiency.html"
    browser.open(site / "efficiency.html")
    assert browser.js("Array.from(document.images).every(i => i.complete && i.naturalWidth > 300)")
    plotted = browser.js("Array.from(document.images).map(i => atob(i.src.split(',')[1]))")
    for name in ("cpmid", "imagenet", "scratch", "resnet18", "resnet50"):  # points are named, not numbered
        assert all(f"<!-- {name} -->" in svg for svg in plotted), name
    browser.screenshot(tmp_path / "screenshots" / "efficiency.png")
    browser.open(next((site / "entry").glob("sub-leaky*.html")))
    browser.screenshot(tmp_path / "screenshots" / "entry.png")


def _per_seed_values_are_the_ones_behind_each_mean(browser: Browser) -> None:
    """On a task page: one column per seed, a failed seed shown by its state, and each row's seeds averaging to the
    mean the results table shows."""
    heads = browser.js("Array.from(document.querySelectorAll('#seeds thead th')).map(h => h.innerText.trim())")
    assert heads[1:] == ["seed 0", "seed 1", "seed 2"]
    rows = browser.js("Array.from(document.querySelectorAll('#seeds tbody tr')).map(r => Array.from(r.cells).map("
                      "c => [c.innerText.replace(/\\s+/g, ' ').trim(), c.getAttribute('data-v')]))")
    means = browser.js("Object.fromEntries(Array.from(document.querySelectorAll('#results tbody tr')).map("
                       "r => [r.cells[1].getAttribute('data-v') + ' ' + r.cells[2].getAttribute('data-v'), r.cells[4].getAttribute('data-v')]))")
    assert len(rows) == len(means)
    for (_, name), *seeds in rows:
        values = [float(v) for _, v in seeds if v]
        if len(values) == 3:
            assert sum(values) / 3 == pytest.approx(float(means[name])), name
    vit = next(seeds for (_, name), *seeds in rows if "vit_tiny" in name)
    assert vit[1][0] == "diverged" and vit[1][1] == "" and float(vit[0][0]) == pytest.approx(float(vit[0][1]), abs=5e-4)


def test_a_table_too_wide_for_a_phone_says_it_scrolls_and_the_page_itself_does_not(browser: Browser, site: Path,
                                                                                    tmp_path: Path):
    visible_hints = "Array.from(document.querySelectorAll('.scroll-hint')).filter(h => !h.hidden).length"
    hints_match_their_tables = ("Array.from(document.querySelectorAll('.table-scroll')).every(t => "
                                "!t.previousElementSibling?.classList.contains('scroll-hint') || "
                                "t.previousElementSibling.hidden === (t.scrollWidth <= t.clientWidth))")
    try:
        for page in (site / "index.html", site / "task" / "synth-xray-cls.html"):
            browser.width(390)
            browser.open(page)
            assert browser.js("document.querySelector('.table-scroll').scrollWidth > "
                              "document.querySelector('.table-scroll').clientWidth"), page  # the table is cut off
            assert browser.js(visible_hints) >= 1, page
            assert browser.js("document.querySelector('.scroll-hint').innerText").startswith("More columns")
            assert browser.js("document.documentElement.scrollWidth <= window.innerWidth"), page  # only the frame scrolls
            browser.screenshot(tmp_path / "screenshots" / f"390-{page.stem}.png")
            browser.width(1280)
            browser.js("window.dispatchEvent(new Event('resize'))")
            assert browser.js(hints_match_their_tables), page  # a wide screen shows a hint only where a table is cut off
        browser.width(390)
        browser.open(site / "task" / "synth-xray-cls.html")  # the per-seed table folds away; its hint follows it
        seed_hint = "document.querySelector('#seeds').closest('.table-scroll').previousElementSibling.hidden"
        assert browser.js(seed_hint) is False
        browser.click("details.per-seed summary")
        assert browser.js(f"new Promise(done => setTimeout(() => done({seed_hint}), 50))") is True
        browser.click("details.per-seed summary")
        assert browser.js(f"new Promise(done => setTimeout(() => done({seed_hint}), 50))") is False
        for page in sorted(site.rglob("*.html")):  # every page, figures included, fits a phone but for its table frames
            browser.open(page)
            assert browser.js("document.documentElement.scrollWidth <= window.innerWidth"), page
        browser.screenshot(tmp_path / "screenshots" / "390-efficiency.png")
    finally:
        browser.width(1280)


XSS_INIT = "<script>document.title='pwned';window.__xss=1</script>\"><img src=x onerror=\"window.__xss=2\">"
XSS_MANIFEST = {"name": "<b>evil</b>", "description": "\" onmouseover=\"window.__xss=3\" x=\"<script>window.__xss=4</script>",
                "homepage": "javascript:window.__xss=5//", "authors": ["' onfocus='window.__xss=6"],
                "paper": "https://example.org/paper\" onclick=\"window.__xss=7"}


def test_xss_payloads_in_records_stay_inert_on_every_page(browser: Browser, tmp_path: Path):
    records = grid(inits=("scratch", XSS_INIT))
    for record in records:
        if record["init"] == XSS_INIT:
            record["provenance"]["init_provenance"]["manifest"] = XSS_MANIFEST
    good = make_record("synth-xray-cls", "hf:lab/model", "resnet18", 0)
    good["provenance"]["init_provenance"]["manifest"] = {"homepage": "https://example.org/lab"}
    write_results(tmp_path / "results", records + [good])
    invoke("leaderboard", "build", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "site"))

    pages = sorted((tmp_path / "site").rglob("*.html"))
    assert len(pages) == 1 + 2 + 3 + 1
    for page in pages:
        html = page.read_text()
        assert "<script>document" not in html and "<img src=x" not in html and 'onmouseover="' not in html
        browser.open(page)
        state = browser.js("""({
            xss: window.__xss === undefined ? null : window.__xss,
            title: document.title,
            handlers: Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes))
                        .map(a => a.name).filter(n => n.startsWith('on')),
            scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
            schemes: Array.from(document.querySelectorAll('a[href]')).map(a => new URL(a.href).protocol),
            injected: document.querySelectorAll('b, img[src="x"], main script').length,
        })""")
        assert state["xss"] is None and state["title"] != "pwned", page  # the payload's own text may be in the title
        assert state["handlers"] == [] and state["injected"] == 0, page
        assert all(src.endswith(("static/sort.js", "static/scroll-hint.js")) for src in state["scripts"]), page
        assert set(state["schemes"]) <= {"file:", "http:", "https:"}, page

    entry = next(p for p in (tmp_path / "site" / "entry").glob("*.html") if "pwned" in p.read_text())
    browser.open(entry)
    text = browser.js("document.body.innerText")
    assert XSS_INIT in text and XSS_MANIFEST["description"] in text and "javascript:window.__xss=5//" in text
    links = browser.js("Array.from(document.querySelectorAll('main a[href^=http]')).map(a => [a.href, a.rel])")
    assert links == [], links  # neither homepage nor the quote-breaking paper URL became a link
    browser.screenshot(tmp_path / "screenshots" / "xss-entry.png")
    browser.open(next(p for p in (tmp_path / "site" / "entry").glob("hf_lab*.html")))
    assert browser.js("Array.from(document.querySelectorAll('main a[href^=http]')).map(a => [a.href, a.rel])") == [
        ["https://example.org/lab", "noopener noreferrer nofollow"]]
