"""A real hub process and real headless Chromium for the console's browser tests.

The hub is started the way an operator starts it (causeway-hub init, org import,
user add, serve) on a private SQLite database and a free port: the commands run once per
test process and each hub serves a copy of the database they made; Chromium is the
system's Debian package, driven by Playwright (no browser is downloaded).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import requests

from hub.db import make_engine
from hub.orgs.service import OrgService
from support.hubprocess import HubProcess, prepared_database

PHONE_WIDTH = 390
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
PHONE = {"width": 390, "height": 844}
# axe-core as the axe-playwright-python package ships it (no download at test time).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => `${v.id} (${v.impact}): ${v.help}: ` +
    v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""


def axe_source() -> str:
    from importlib.resources import files

    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def accessibility_violations(page) -> list[str]:
    """axe-core's WCAG 2.2 AA and best-practice violations on the page as it stands."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    return page.evaluate(AXE_RUN, AXE_TAGS)


def phone_width_overflow(page) -> int:
    """How many pixels the page is wider than a 390 px phone screen (0: it reflows)."""
    return max(0, page.evaluate("document.documentElement.scrollWidth") - PHONE["width"])
PASSWORD = "a long browser-test password"

# username, org, role
STAFF = [
    ("gina", "edinburgh", "governance"),
    ("sam", "sds", "governance"),
    ("fiona", "fife", "governance"),
    ("omar", "edinburgh", "ops"),
    ("otto", "sds", "ops"),
    ("ada", "scottish-government", "admin"),
]


def _operator_prepared_database() -> Path:
    """A database set up as an operator would (causeway-hub init, org import, user add for each of
    STAFF), made once per test process; each ConsoleHub serves a copy of it."""
    return prepared_database(("init",), ("org", "import"),
                             *(("user", "add", username, "--org", org, "--role", role) for username, org, role in STAFF),
                             env=(("CAUSEWAY_USER_PASSWORD", PASSWORD),))


class ConsoleHub:
    """A hub process set up as an operator would: init, org import, staff users, serve."""

    def __init__(self, workdir: Path, env: dict | None = None):
        self.workdir = workdir
        self.db_url = f"sqlite:///{workdir / 'causeway.db'}"
        self.process = HubProcess(self.db_url, log_path=workdir / "hub.log",
                                  env={"CAUSEWAY_SECRET_KEY": "", **(env or {})})
        self.keys: dict[tuple[str, str], str] = {}

    @property
    def base_url(self) -> str:
        return self.process.url

    def prepare(self) -> None:
        shutil.copy(_operator_prepared_database(), self.workdir / "causeway.db")

    def start(self) -> None:
        try:
            self.process.start(timeout=60)
        except RuntimeError as exc:
            self.process.stop()
            raise RuntimeError(f"{exc}:\n{(self.workdir / 'hub.log').read_text()[-3000:]}") from None

    def stop(self) -> None:
        self.process.stop()

    def key(self, org: str, role: str) -> str:
        if (org, role) not in self.keys:
            engine = make_engine(self.db_url)
            try:  # the key `causeway-hub key issue` would print, without a process start per key
                self.keys[org, role] = OrgService(engine).issue_key(org, role, actor="test")
            finally:
                engine.dispose()
        return self.keys[org, role]

    def api(self, method: str, path: str, org: str, role: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key(org, role)}"}
        return requests.request(method, self.base_url + "/api/v1" + path, headers=headers, timeout=30, **kwargs)

    def publish(self, org: str, records: list[dict]) -> dict:
        response = self.api("POST", "/records", org, "publisher", json={"records": records})
        response.raise_for_status()
        return response.json()


# The innermost elements that stick out past the viewport's right edge (outside any scroll box).
WIDEST_ELEMENTS = """(limit) => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 1 && !el.closest('.table-scroll') && ![...el.children].some(
        c => c.getBoundingClientRect().right > limit + 1)) {
      out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && el.className.baseVal === undefined
        ? '.' + String(el.className).split(' ').join('.') : '') + ' ' + Math.round(box.right) + 'px');
    }
  }
  return out.slice(0, 8);
}"""


def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


class Console:
    """One signed-in browser tab, collecting browser errors as it goes."""

    def __init__(self, browser, hub: ConsoleHub):
        self.hub = hub
        self.context = browser.new_context(base_url=hub.base_url, accept_downloads=True)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.checked: list[str] = []  # page states screenshot and checked (axe-core, phone width)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def sign_in(self, username: str, password: str = PASSWORD):
        page = self.page
        page.goto("/console/")
        assert page.url.endswith("/console/sign-in?next=/console/")
        page.keyboard.press("Tab")  # the skip link comes first
        page.focus("#username")
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "password"
        page.keyboard.type(password)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        return page

    def assert_accessible(self, state: str) -> None:
        """axe-core (the copy shipped with axe-playwright-python) over the page as it is now:
        no violations. Evaluated through the DevTools protocol, so the console's CSP allows it."""
        found = self.page.evaluate(_axe_source() + "\n;axe.run(document, {resultTypes: ['violations']})")
        violations = [f"{v['id']} ({v['impact']}): {v['help']} at "
                      f"{', '.join(n['target'][0] for n in v['nodes'][:3])}" for v in found["violations"]]
        assert violations == [], f"axe-core found violations on {state}:\n" + "\n".join(violations)

    def assert_focus_on_error_summary(self) -> None:
        """Keyboard focus moves to the page's error summary. The console's script moves it once the
        page has loaded, which may be after the summary's text can be read, so this waits for it."""
        self.page.wait_for_function(
            "document.activeElement !== null && document.activeElement.hasAttribute('data-error-summary')",
            timeout=5000)

    def assert_reflows(self, state: str) -> None:
        """At phone width the page needs no sideways scrolling (then the width is put back)."""
        before = self.page.viewport_size
        self.page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
        try:
            width = self.page.evaluate("document.documentElement.scrollWidth")
            self.screenshot(f"{state}-phone")
            if width > PHONE_WIDTH:  # name the widest elements, so the failure says what to fix
                wide = self.page.evaluate(WIDEST_ELEMENTS, PHONE_WIDTH)
                raise AssertionError(f"{state} is {width} px wide at {PHONE_WIDTH} px: it scrolls sideways; {wide}")
        finally:
            if before:
                self.page.set_viewport_size(before)

    def screenshot(self, name: str):
        """A screenshot at desktop and phone width of the page state, which must pass axe-core with no
        violation and reflow at 390 px without sideways scrolling (else the test fails at its end)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.errors.extend(f"axe on {name}: {violation}" for violation in accessibility_violations(page))
        desktop = page.viewport_size
        page.set_viewport_size(PHONE)
        try:
            overflow = phone_width_overflow(page)
            page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
        finally:
            page.set_viewport_size(desktop)
        if overflow:
            self.errors.append(f"{name} is {overflow} px wider than a 390 px phone screen")
        self.checked.append(name)

    def close(self):
        self.context.close()
