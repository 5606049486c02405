"""The platform's web UIs in a real browser (Playwright driving Debian's Chromium): what an
operator sees in MLflow and Prefect. Shared by `make screenshots` (scripts/local/screenshots.py)
and the browser test (tests/browser).

There is no Playwright browser download: the browser is Debian's ``chromium`` package, found on
PATH. The servers require credentials, as the platform runs them:

- MLflow's basic-auth app answers the UI's requests with 401 until the browser sends a user and
  password: a context made by `mlflow_context` sends them (``http_credentials``), as a browser's
  login prompt would.
- Prefect's UI, when the server has ``PREFECT_SERVER_API_AUTH_STRING``, shows a login page; what
  is typed there is kept, base64-encoded, in ``localStorage["prefect-password"]`` and sent as
  ``Authorization: Basic`` on every API request (the UI's Unauthenticated view and API client).
  A context made by `prefect_context` puts it there before any page loads; `prefect_login`
  types it into the login page instead, should the UI ever store it differently.

Page helpers navigate and wait until what a user looks at is on screen; selectors are the
visible text and ARIA roles where the UIs have them.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM_PACKAGE = "chromium"  # Debian's (bookworm) Chromium, /usr/bin/chromium
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 60_000  # a page of a server busy training (or a CI machine) can take a while


class BrowserMissing(RuntimeError):
    pass


def chromium_path() -> str:
    """Debian's Chromium on PATH (``chromium``; ``chromium-browser`` elsewhere)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(
        f"no Chromium on PATH: install Debian's package '{CHROMIUM_PACKAGE}' "
        f"(apt-get install -y {CHROMIUM_PACKAGE}; `make test-system-packages` does it). "
        "Playwright's own browser download is not used.")


@contextmanager
def chromium(headless: bool = True) -> Iterator[Browser]:
    """A headless Chromium (no sandbox: tests and the screenshot script run as root)."""
    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=headless,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


# --- MLflow ---------------------------------------------------------------------------------

# MLflow 3's UI state in localStorage (its useLocalStorage hook stores JSON under `<key>_v<n>`).
# Its assistant panel opens by itself on a first visit and covers a third of the page: closed, as
# an operator closes it once.
_MLFLOW_QUIET = {"mlflow.assistant.panelOpen_v1": "false",
                 "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true"}
# Which of its two navigations the UI shows, as its "GenAI | Model training" switch sets it (or a
# ?workflowType= in the URL). MLflow 3.17 takes it from there only, "genai" unless switched: the
# experiment's mlflow.experimentKind tag does not choose it.
_WORKFLOW_KEY = "mlflow.workflowType_v1"


def _local_storage_script(items: dict[str, str]) -> str:
    sets = "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in items.items())
    return f"try {{ {sets} }} catch (e) {{}}"


def mlflow_context(browser: Browser, user: str, password: str, *, workflow_type: str | None = None,
                   viewport: dict[str, int] = VIEWPORT) -> BrowserContext:
    """A browser context logged in to MLflow's basic-auth app as `user`. `workflow_type`
    ("machine_learning" or "genai") picks the UI's navigation; None leaves it to the UI."""
    context = browser.new_context(viewport=viewport,
                                  http_credentials={"username": user, "password": password})
    items = dict(_MLFLOW_QUIET)
    if workflow_type:
        items[_WORKFLOW_KEY] = json.dumps(workflow_type)
    context.add_init_script(_local_storage_script(items))
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _ui(url: str) -> str:
    return url.rstrip("/")


def open_experiment(page: Page, mlflow_url: str, experiment: str) -> str:
    """From MLflow's experiment list, open `experiment` as a user clicks it; its id."""
    # A new document: after an experiment's page, a mere hash change would leave its links (the
    # sidebar's and breadcrumb's, named after the experiment too) on screen for a moment.
    page.goto("about:blank")
    page.goto(f"{_ui(mlflow_url)}/#/experiments")
    page.get_by_role("link", name=experiment, exact=True).first.click()
    page.wait_for_url(re.compile(r"#/experiments/\d+"))
    return re.search(r"#/experiments/(\d+)", page.url).group(1)


def open_runs_table(page: Page, mlflow_url: str, experiment: str) -> str:
    """The experiment's runs table (its "Runs" tab, the table view); the experiment's id."""
    experiment_id = open_experiment(page, mlflow_url, experiment)
    page.goto(f"{_ui(mlflow_url)}/#/experiments/{experiment_id}/runs")
    expect(page.get_by_text(re.compile(r"\d+ matching runs?"))).to_be_visible()
    _run_name_cells(page).first.wait_for()
    return experiment_id


def _run_name_cells(page: Page):
    # The runs table is an AG Grid: the run name column's cells, by their column id.
    return page.locator("[role=gridcell][col-id='attributes.`Run Name`']")


def expand_run(page: Page, run_name: str | None = None) -> None:
    """Expand a parent run's row (`run_name`, or the first expandable one) to show its nested
    runs, as the +/- button next to its name does; waits for the new rows."""
    cells = _run_name_cells(page)
    if run_name is not None:
        cells = cells.filter(has=page.get_by_role("link", name=run_name, exact=True))
    button = cells.get_by_role("button").first
    button.wait_for()
    before = page.get_by_role("row").count()
    button.click()
    page.wait_for_function("n => document.querySelectorAll('[role=row]').length > n", arg=before)
    page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring


def scroll_to_columns(page: Page, names: Sequence[str]) -> None:
    """Scroll the runs table sideways until columns `names` are in view, the rightmost last (the
    run name and creation time stay: they are pinned)."""
    headers = [page.get_by_role("columnheader", name=name, exact=True).first for name in names]
    for header in sorted(headers, key=lambda h: h.evaluate("e => e.getBoundingClientRect().left")):
        # A body cell of the column (the grid scrolls the header along with the body, not back).
        index = header.get_attribute("aria-colindex")
        page.locator(f"[role=gridcell][aria-colindex='{index}']").first.scroll_into_view_if_needed()


def show_columns(page: Page, wanted: Sequence[str | Sequence[str]]) -> list[str]:
    """Pick columns in the runs table's "Columns" menu as a user does: for each wanted column
    (a metric or parameter key, or alternatives: the first the menu offers is taken) type it into
    "Search columns" and tick the entry of exactly that name if it is not ticked yet. Returns the
    names ticked, in order; a wanted column the menu does not offer is left out."""
    page.get_by_role("button", name="Columns").click()
    search = page.get_by_placeholder("Search columns")
    search.wait_for()
    chosen: list[str] = []
    for alternatives in wanted:
        for name in [alternatives] if isinstance(alternatives, str) else alternatives:
            search.fill(name)
            # The menu is an Ant Design tree; an entry's title is the column's name (the search
            # highlights the matched part, so the title's whole text is compared).
            entry = page.locator("[class*=tree-treenode]").filter(
                has=page.locator("[class*=tree-title]", has_text=re.compile(f"^{re.escape(name)}$")))
            try:
                entry.first.wait_for(timeout=3_000)
            except Exception:
                continue
            if "checkbox-checked" not in (entry.first.get_attribute("class") or ""):
                entry.first.locator("[class*=tree-title]").click()
                expect(entry.first).to_have_class(re.compile("checkbox-checked"))
            chosen.append(name)
            break
    search.fill("")
    page.keyboard.press("Escape")
    expect(search).to_be_hidden()
    for name in chosen:
        expect(page.get_by_role("columnheader", name=name).first).to_be_visible()
    return chosen


_READ_GRID = """() => {
  // Header names by column index (the last header row: group headers sit above it).
  const headerRows = [...document.querySelectorAll('[role=row][aria-rowindex]')]
    .filter(r => r.querySelector('[role=columnheader]'));
  const last = Math.max(0, ...headerRows.map(r => +r.getAttribute('aria-rowindex')));
  const names = {};
  headerRows.filter(r => +r.getAttribute('aria-rowindex') === last).forEach(r =>
    r.querySelectorAll('[role=columnheader][aria-colindex]').forEach(h => {
      const text = h.innerText.trim();
      if (text) names[h.getAttribute('aria-colindex')] = text;
    }));
  // Body rows: AG Grid splits one row into a pinned part and a scrolling part, same row index.
  const rows = {};
  document.querySelectorAll('[role=row][aria-rowindex]').forEach(r => {
    r.querySelectorAll('[role=gridcell][aria-colindex]').forEach(c => {
      const name = names[c.getAttribute('aria-colindex')];
      if (!name) return;
      const link = name === 'Run Name' ? c.querySelector('a') : null;
      (rows[r.getAttribute('aria-rowindex')] ||= {})[name] = (link || c).innerText.trim();
    });
  });
  return Object.keys(rows).sort((a, b) => a - b).map(k => rows[k]);
}"""


def runs_table(page: Page) -> list[dict[str, str]]:
    """The runs table as shown: one dict per visible row, column header -> cell text."""
    return page.evaluate(_READ_GRID)


def open_run_artifact(page: Page, mlflow_url: str, run_id: str, artifact: str) -> None:
    """A run's "Artifacts" tab with `artifact` (an image) selected and its preview loaded."""
    # /#/runs/<id> (the link flows and summaries print) redirects to the run under its experiment.
    page.goto(f"{_ui(mlflow_url)}/#/runs/{run_id}")
    page.wait_for_url(re.compile(rf"#/experiments/\d+/runs/{run_id}"))
    page.get_by_role("tab", name="Artifacts", exact=True).click()
    page.get_by_text(artifact, exact=True).first.click()
    page.get_by_text(artifact, exact=True).nth(1).wait_for()  # the preview's title
    preview = page.locator("img[src^='blob:']").first
    preview.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())


def open_registered_model(page: Page, mlflow_url: str, model: str) -> None:
    """The registered model's page, its versions listed."""
    page.goto(f"{_ui(mlflow_url)}/#/models/{quote(model, safe='')}")
    expect(page.get_by_role("link", name=re.compile(r"^Version \d+$")).first).to_be_visible()


def open_model_version(page: Page, mlflow_url: str, model: str, version: str) -> None:
    """A registered version's page, its description (the model card) on screen."""
    page.goto(f"{_ui(mlflow_url)}#/models/{quote(model)}/versions/{version}")
    expect(page.get_by_text(f"Version {version}").first).to_be_visible()
    settle(page)


def scroll_to_log(page: Page, text: str) -> None:
    """Scroll a Prefect flow run's log list to the first line containing `text`."""
    line = page.get_by_text(text).first
    line.wait_for()
    line.scroll_into_view_if_needed()
    page.mouse.wheel(0, 250)  # a few lines before it stay in view: the steps leading up to it
    settle(page, 2_000)


def version_aliases(page: Page, version: str) -> list[str]:
    """The aliases the registered model's page shows on `version`'s row ("production", ...)."""
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"Version {version}", exact=True))
    expect(row.first).to_be_visible()
    texts = row.first.get_by_text(re.compile(r"^@\s*\S+$")).all_inner_texts()
    return [re.sub(r"^@\s*", "", t.strip()) for t in texts]


# --- Prefect --------------------------------------------------------------------------------

PREFECT_PASSWORD_KEY = "prefect-password"  # the UI's localStorage item: base64 of the auth string


def prefect_context(browser: Browser, auth_string: str | None, *,
                    viewport: dict[str, int] = VIEWPORT) -> BrowserContext:
    """A browser context past the Prefect UI's login (the server's API auth string)."""
    context = browser.new_context(viewport=viewport)
    if auth_string:
        token = base64.b64encode(auth_string.encode()).decode()
        context.add_init_script(_local_storage_script({PREFECT_PASSWORD_KEY: token}))
    context.set_default_timeout(TIMEOUT_MS)
    return context


def prefect_login(page: Page, auth_string: str) -> None:
    """If the UI shows its login page, type the auth string and log in."""
    field = page.get_by_placeholder("admin:pass")
    if page.url.split("?")[0].endswith("/login") or field.is_visible():
        field.fill(auth_string)
        page.get_by_role("button", name="Login").click()
        page.wait_for_url(lambda url: "/login" not in url)


def settle(page: Page, quiet_ms: int = 5_000) -> None:
    """Give the page a moment without requests (the UIs poll, so not forever) and its
    transitions time to end."""
    try:
        page.wait_for_load_state("networkidle", timeout=quiet_ms)
    except PlaywrightTimeout:
        pass
    page.wait_for_timeout(700)


def _prefect_goto(page: Page, ui_url: str, path: str, auth_string: str | None) -> None:
    page.goto(f"{_ui(ui_url)}{path}")
    settle(page)  # the UI sends a browser without the auth string to /login after its first request
    if auth_string and "/login" in page.url:
        prefect_login(page, auth_string)
        page.goto(f"{_ui(ui_url)}{path}")
    if "/login" in page.url:
        raise RuntimeError(f"the Prefect UI at {ui_url} asks to log in: wrong or missing auth string")


def open_flow_run(page: Page, ui_url: str, flow_run_id: str, flow_run_name: str,
                  auth_string: str | None = None) -> None:
    """A flow run's page: its name, state, and the graph of its task runs drawn."""
    _prefect_goto(page, ui_url, f"/runs/flow-run/{flow_run_id}", auth_string)
    expect(page.get_by_text(flow_run_name, exact=True).first).to_be_visible()
    page.locator("canvas").first.wait_for()  # the task-run graph (a canvas)
    settle(page)
    page.wait_for_timeout(1_000)  # the graph lays out and animates in


def open_deployment(page: Page, ui_url: str, deployment_id: str, deployment_name: str,
                    auth_string: str | None = None, flow_run_name: str | None = None) -> None:
    """A deployment's page: its runs (`flow_run_name` among them, if given), schedule and
    triggers."""
    _prefect_goto(page, ui_url, f"/deployments/deployment/{deployment_id}", auth_string)
    expect(page.get_by_text(deployment_name, exact=True).first).to_be_visible()
    expect(page.get_by_text("Schedules", exact=True).first).to_be_visible()
    if flow_run_name:
        expect(page.get_by_role("link", name=flow_run_name, exact=True).first).to_be_visible()
    settle(page)


def open_custom_run(page: Page, ui_url: str, deployment_id: str, auth_string: str | None = None,
                    choose: str | None = None) -> None:
    """A deployment's "Run > Custom run" form: the flow's parameters with their descriptions;
    `choose`: a parameter whose "str" side of "str | None" to show (a select of its choices)."""
    _prefect_goto(page, ui_url, f"/deployments/deployment/{deployment_id}/run", auth_string)
    expect(page.get_by_text("Parameters", exact=True).first).to_be_visible()
    if choose:
        block = page.locator(".schema-form-property").filter(
            has=page.get_by_text(re.compile(rf"^{re.escape(choose)}( \(Optional\))?$")))
        block.get_by_role("button", name="str", exact=True).first.click()
        block.locator("fieldset button.p-select-button__control").first.wait_for()
    settle(page, 2_000)


def open_artifact(page: Page, ui_url: str, key: str, auth_string: str | None = None) -> None:
    """The newest artifact of `key` (from the key's timeline, as a user clicks it), rendered."""
    _prefect_goto(page, ui_url, f"/artifacts/key/{quote(key, safe='')}", auth_string)
    expect(page.get_by_text(key, exact=True).first).to_be_visible()
    page.locator("a[href*='/artifacts/artifact/']").first.click()
    page.wait_for_url(re.compile(r"/artifacts/artifact/"))
    expect(page.get_by_role("link", name=key).first).to_be_visible()
    settle(page)


def table_headers(page: Page) -> list[str]:
    """Header cells of the tables on the page (a markdown artifact's tables)."""
    return [t.strip() for t in page.get_by_role("columnheader").all_inner_texts()]


# --- Screenshots ----------------------------------------------------------------------------

def save_png(page: Page, path: Path, max_bytes: int = 300_000, **screenshot_args) -> int:
    """A PNG of the page's viewport at `path`; reduced to a 256-colour palette (Pillow) when
    larger than `max_bytes`. Its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), type="png", **screenshot_args)
    if path.stat().st_size > max_bytes:
        from PIL import Image

        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    return path.stat().st_size
