"""Dashboards over the demo: the published model and its views, the terminal view
(``dashboard --once`` as a subprocess), the web routes over real HTTP, and every page in headless
Chromium (charts drawn with data, no console errors, live feed, screenshots)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Server, UvicornThread, free_port

ROOT = Path(__file__).resolve().parents[2]
CHANGE_POINT_AT = "2026-11-29T06:05:00"  # node-17's latency step (demo: day 3, 06:00)


def _model(home: Path) -> dict[str, Any]:
    return json.loads((home / "snapshot" / "dashboard.json").read_text())


# -- the model the publish flow wrote, and the views over it -------------------------------------
def test_published_model_shows_the_demo_incidents(dashboard_home: Path) -> None:
    from ecoperf_core.dashboard import figures, views

    model = _model(dashboard_home)
    nodes = views.nodes(model)
    assert nodes[0]["node"] == "node-17" and nodes[0]["recommendation"] == "degraded"
    assert nodes[0]["weight"] < 1.0
    history = [h["weight"] for h in model["weights"]["node-17"]]
    assert len(history) == 7 and history[0] >= 1.0 and history[-1] < 1.0  # it was down-weighted

    worst_dao = views.daos(model)[0]
    assert worst_dao["dao"] == "dao-07" and worst_dao["isolation"] != "none"
    assert worst_dao["compliance"]["availability"]["status"] != "compliant"

    cost = {r["module"]: r for r in views.cost_rows(model)}
    assert cost["qdrive"]["status"] == "failed" and cost["qdrive"]["utilization"] > 1.0

    canary = next(v for v in views.verdicts(model) if v["kind"] == "canary")
    assert (canary["deployment"], canary["verdict"], canary["action"]) == (
        "v2.1.0",
        "fail",
        "automatic rollback",
    )
    firing = {(a["component"], a["subject"]) for a in views.alerts(model)}
    assert {("QNET", "node-17"), ("DAO", "dao-07"), ("CI/CD", "v2.1.0")} <= firing
    assert ("Go-live", "qdrive@production") in firing

    latency = figures.latency_figure(model, "node", "node-17")
    assert [s["x0"] for s in latency["layout"]["shapes"]] == [CHANGE_POINT_AT]
    forecast = figures.cost_forecast_figure(model)
    assert any("qdrive exceeds its budget" in n["text"] for n in forecast["layout"]["annotations"])


# -- the terminal view ---------------------------------------------------------------------------
def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ECOPERF_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "160",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "ecoperf_core.cli.app", "dashboard", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )


def test_dashboard_once_prints_one_frame(dashboard_home: Path, tmp_path: Path) -> None:
    done = _cli(dashboard_home, "--once")
    assert done.returncode == 0, done.stderr
    frame = done.stdout
    for section in (
        "QNET nodes by recommendation",
        "DAO subnets",
        "Recent gate and canary verdicts",
        "Go-live readiness per module",
        "Firing alerts",
    ):
        assert section in frame
    node_row = next(line for line in frame.splitlines() if "degraded" in line)
    assert "node-17 0.5" in node_row
    dao_row = next(line for line in frame.splitlines() if line.strip().startswith("dao-07"))
    assert "violation" in dao_row and "performance_monitoring" in dao_row
    canary_row = next(line for line in frame.splitlines() if line.strip().startswith("canary"))
    assert "fail" in canary_row and "automatic rollback" in canary_row
    qdrive_row = next(line for line in frame.splitlines() if line.strip().startswith("qdrive"))
    assert "blocked" in qdrive_row and "cost" in qdrive_row

    as_json = json.loads(_cli(dashboard_home, "--once", "--json").stdout)
    assert as_json["nodes"][0]["nodes"][0]["node"] == "node-17"
    assert {a["subject"] for a in as_json["alerts"]} >= {"node-17", "dao-07", "v2.1.0"}

    missing = _cli(tmp_path / "no-such-home", "--once")
    assert missing.returncode == 3 and "no warehouse" in missing.stderr


# -- the web routes ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dashboard_server(dashboard_home: Path) -> Iterator[Server]:
    from ecoperf_core.api.app import create_app
    from ecoperf_core.api.auth import create_token
    from ecoperf_core.api.settings import ApiPaths, ApiSettings
    from ecoperf_core.settings import Settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(dashboard_home))
        api = ApiSettings(rate_limit_rps=10_000, rate_limit_burst=10_000)
        paths = ApiPaths(Settings(), api)
        tokens = {
            "read": create_token(paths.tokens, "read", "dash-reader"),
            "dao07": create_token(paths.tokens, "read", "dash-dao07", dao="dao-07"),
        }
        port = free_port()
        app = create_app(Settings(), api)
        with UvicornThread(app, port):
            yield Server(f"http://127.0.0.1:{port}", dashboard_home, tokens, app)


PREFIX = "/ecosystem-performance/dashboard"


def test_web_routes_auth_and_errors(dashboard_server: Server) -> None:
    from ecoperf_core.dashboard.web import plotly_file

    with dashboard_server.client(token=None) as anonymous:
        page = anonymous.get(PREFIX)
        assert page.status_code == 200 and "Ecosystem overview" in page.text
        assert "cdn" not in page.text.lower()  # every script comes from this server
        script = next(
            part.split('"')[0] for part in page.text.split('src="')[1:] if "plotly" in part
        )
        plotly = anonymous.get(script)
        assert plotly.status_code == 200 and len(plotly.content) == plotly_file().stat().st_size
        assert anonymous.get(f"{PREFIX}/data/overview").status_code == 401
        assert anonymous.get(f"{PREFIX}/static/serving.json").status_code == 404  # named files only
    with dashboard_server.client("dao07") as scoped:
        assert scoped.get(f"{PREFIX}/data/overview").status_code == 403
    with dashboard_server.client("read") as reader:
        for name in ("overview", "risk", "cost", "decisions", "component"):
            answer = reader.get(f"{PREFIX}/data/{name}")
            assert answer.status_code == 200, answer.text
            assert answer.json()["figures"], name
        default = reader.get(f"{PREFIX}/data/component").json()
        assert (default["kind"], default["id"]) == ("node", "node-17")  # the worst node
        unknown = reader.get(f"{PREFIX}/data/component", params={"kind": "node", "id": "node-99"})
        assert unknown.status_code == 404 and "node-99" in unknown.json()["detail"]
        bad_kind = reader.get(f"{PREFIX}/data/component", params={"kind": "planet", "id": "x"})
        assert bad_kind.status_code == 422 and "kind" in bad_kind.json()["detail"]
        canaries = reader.get(f"{PREFIX}/data/decisions", params={"engine": "canary"}).json()
        rows = canaries["tables"]["decisions"]
        assert rows and {r["engine"] for r in rows} == {"canary"}
        assert rows[0]["evidence"]["evidence"]["metrics"]  # each decision carries its evidence
        assert reader.get(f"{PREFIX}/data/decisions", params={"engine": "x"}).status_code == 422


def test_dashboard_store_before_the_first_publish(tmp_path: Path) -> None:
    from fastapi import HTTPException

    from ecoperf_core.dashboard.web import DashboardStore

    store = DashboardStore(tmp_path / "dashboard.json")
    with pytest.raises(HTTPException) as refused:
        store.get()
    assert refused.value.status_code == 503 and "publish flow" in str(refused.value.detail)
    (tmp_path / "dashboard.json").write_text('{"asOf": "x"}')
    assert store.get() == {"asOf": "x"}
    (tmp_path / "dashboard.json").write_text("{broken")  # a torn write: keep the last good one
    assert store.get() == {"asOf": "x"}


# -- the browser -------------------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
PAGES = {
    "overview": "",
    "node-17": "/component?kind=node&id=node-17",
    "dao-07": "/component?kind=dao&id=dao-07",
    "canary-v2.1.0": "/component?kind=deployment&id=v2.1.0",
    "risk": "/risk",
    "cost": "/cost",
    "decisions": "/decisions?engine=canary",
}
# Per chart: traces with at least one plotted value, and Plotly's drawn trace groups.
CHART_STATE = """() => [...document.querySelectorAll('[data-figure]')].filter(el => !el.hidden)
  .map(el => ({
    name: el.dataset.figure,
    rendered: el.dataset.rendered === '1',
    points: (el.data || []).map(t => [...(t.y || []), ...(t.x || [])]
      .filter(v => v !== null && v !== undefined).length),
    drawn: el.querySelectorAll('g.trace, g.point, path.point').length,
    shapes: ((el.layout || {}).shapes || []).map(s => s.x0),
    notes: ((el.layout || {}).annotations || []).map(a => a.text),
  }))"""


TABLE_ROWS = """(name) => [...document.querySelectorAll(`[data-table="${name}"] tbody tr`)]
  .filter(tr => !tr.classList.contains('evidence'))
  .map(tr => [...tr.cells].map(td => td.textContent))"""
DEBUG_CHART_STATE = """(name) => {
  const el = document.querySelector(`[data-figure="${name}"]`);
  return {traces: el.data.map(t => t.name), firstBar: el.data[0].y[0]};
}"""


def _open_debug_pages(
    page: Any, base: str, shots: Path
) -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """From node-17's deep-dive: its slowest example trace, then its change point's root cause
    (both by clicking the links a user clicks); per page its charts and table rows."""
    out: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
    page.goto(f"{base}/trace")  # from the navigation: no trace yet, the form asks for an id
    page.wait_for_function("document.body.dataset.rendered === '1'", timeout=10_000)
    assert "give a trace id" in page.inner_text("#trace-title")
    for name, selector, tables in (
        ("trace", '[data-table="examples"] a.page-link', ("critical", "spans")),
        ("root-cause", '[data-table="detections"] a.page-link', ("incident", "suspects")),
    ):
        page.goto(f"{base}/component?kind=node&id=node-17")
        page.wait_for_function("document.body.dataset.examples === '1'", timeout=20_000)
        # The first link: the slowest trace; the change point's row (detections in time order).
        page.locator(selector).first.click()
        page.wait_for_url(f"**/dashboard/{'trace' if name == 'trace' else 'why'}?**")
        page.wait_for_function(
            "document.body.dataset.rendered === '1' && "
            "document.querySelectorAll('[data-figure][data-rendered]').length > 0",
            timeout=20_000,
        )
        charts = page.evaluate(CHART_STATE)
        for chart in charts:
            chart.update(page.evaluate(DEBUG_CHART_STATE, chart["name"]))
        rows = {t: page.evaluate(TABLE_ROWS, t) for t in tables}
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        out[name] = (charts, rows)
    return out


def _write_event(home: Path) -> int:
    """One event in the feed, as a writer exports it after a commit."""
    from ecoperf_core.publish.events_feed import atomic_write, last_exported

    feed = home / "events"
    event_id = last_exported(feed) + 1
    event = {
        "id": event_id,
        "type": "node_performance_update",
        "time": "2026-11-30T00:00:00Z",
        "data": {
            "engine": "qnet",
            "subject": "node-17",
            "previousOutcome": "0.5",
            "outcome": "0.2",
        },
    }
    atomic_write(
        feed / f"{event_id:020d}-{event_id:020d}.jsonl", (json.dumps(event) + "\n").encode()
    )
    return event_id


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")
def test_every_page_renders_in_chromium(dashboard_server: Server, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs pip's playwright")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    base = f"{dashboard_server.url}{PREFIX}"
    errors: list[str] = []
    seen: dict[str, list[dict[str, Any]]] = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            # The token once, in the fragment; the tab keeps it for the other pages.
            page.goto(f"{base}#token={dashboard_server.tokens['read']}")
            page.wait_for_function("document.querySelectorAll('#live li').length > 0")
            # On connecting, the page replays the feed's latest events (the evaluations').
            assert "_update" in page.inner_text("#live")
            for name, path in PAGES.items():
                page.goto(base + path)
                page.wait_for_function("document.body.dataset.rendered === '1'", timeout=20_000)
                page.wait_for_function(
                    "document.getElementById('live-state').textContent === 'live'", timeout=10_000
                )
                if name == "decisions":
                    page.click("tr.expandable")
                    assert '"verdict": "fail"' in page.inner_text("tr.evidence pre")
                seen[name] = page.evaluate(CHART_STATE)
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            debug_pages = _open_debug_pages(page, base, shots)
            seen.update({name: charts for name, (charts, _) in debug_pages.items()})
            # Live: an event in the feed reaches the open page over the WebSocket.
            event_id = _write_event(dashboard_server.home)
            page.wait_for_function(
                "Number(document.body.dataset.liveEvents || 0) >= 1", timeout=10_000
            )
            assert f"#{event_id} node_performance_update" in page.inner_text("#live")
        finally:
            browser.close()
    if os.environ.get("DASHBOARD_SCREENSHOTS_DIR"):
        shutil.copytree(shots, Path(os.environ["DASHBOARD_SCREENSHOTS_DIR"]), dirs_exist_ok=True)

    assert errors == []
    for name, charts in seen.items():
        assert charts, f"{name}: no chart"
        for chart in charts:
            assert chart["rendered"], (name, chart["name"])
            assert chart["points"] and max(chart["points"]) > 0, (name, chart["name"])
            assert chart["drawn"] > 0, (name, chart["name"])
    charts = {(page, c["name"]): c for page, cs in seen.items() for c in cs}
    # The demo incidents, as drawn.
    assert charts[("node-17", "latency")]["shapes"] == [CHANGE_POINT_AT]
    assert any(n.startswith("change point +") for n in charts[("node-17", "latency")]["notes"])
    assert ("dao-07", "availability") in charts
    assert any("qdrive crosses its budget" in n for n in charts[("cost", "trend")]["notes"])
    assert any(
        "fail" in n and "rollback" in n for n in charts[("canary-v2.1.0", "latency")]["notes"]
    )
    # The trace page, reached from node-17's example traces: the waterfall and its critical path.
    tables = {name: rows for name, (_, rows) in debug_pages.items()}
    waterfall = charts[("trace", "waterfall")]
    assert "critical path" in waterfall["traces"] and "qnet-node" in waterfall["traces"]
    critical = tables["trace"]["critical"]
    assert critical[0][:2] == ["qnet-node", "disk.write"]  # node-17's slow disk dominates
    # The root-cause panel, reached from node-17's change point: the injected cause first.
    suspects = tables["root-cause"]["suspects"]
    assert suspects[0][:3] == ["1", "node node-17", "utilization"], suspects[:3]
    assert charts[("root-cause", "suspects")]["firstBar"] == "#1 node node-17 · utilization"
    assert tables["root-cause"]["incident"][0][:3] == ["node-17", "node", "latency_p95"]
    expected = {f"{n}.png" for n in PAGES} | {"trace.png", "root-cause.png"}
    assert {p.name for p in shots.iterdir()} == expected


def test_dashboard_publish_runs_the_publish_flow(dashboard_home: Path) -> None:
    from typer.testing import CliRunner

    from ecoperf_core.cli.app import app

    before = _model(dashboard_home)["builtAt"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(dashboard_home))
        result = CliRunner().invoke(app, ["dashboard", "--publish"])
    assert result.exit_code == 0, result.output
    assert "dashboard.json" in result.output
    after = _model(dashboard_home)
    assert after["builtAt"] > before and after["latest"]["qnet"]["node-17"]["outcome"] == "0.5"


def test_dashboard_refreshes_on_its_interval(dashboard_home: Path) -> None:
    """The live view in a real terminal (a pty): frames keep coming, Ctrl-C ends it cleanly."""
    import pty
    import select
    import signal
    import time

    env = {**os.environ, "ECOPERF_HOME": str(dashboard_home), "PYTHONPATH": str(ROOT)}
    env |= {"COLUMNS": "160", "LINES": "60", "TERM": "xterm"}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ecoperf_core.cli.app", "dashboard", "--interval", "0.5"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 30
    try:
        while screen.count(b"refreshed") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                screen += os.read(leader, 65536)
    finally:
        process.send_signal(signal.SIGINT)
        # Keep draining: the view writes its last frame on exit, and a full pty would block it.
        stop = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < stop:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    os.read(leader, 65536)
                except OSError:  # the follower side closed: the process is gone
                    break
        code = process.wait(5)
        os.close(leader)
    assert screen.count(b"refreshed") >= 3, screen[-2000:]
    assert b"node-17" in screen and b"Firing alerts" in screen
    assert code == 0


def test_views_and_figures_are_pure() -> None:
    code = (
        "import sys\n"
        "import ecoperf_core.dashboard.views, ecoperf_core.dashboard.figures\n"
        "import ecoperf_core.dashboard.terminal\n"
        "import ecoperf_core.dashboard.debug_figures\n"
        "bad = [m for m in ('duckdb', 'prefect', 'fastapi') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_pages_of_an_empty_model_draw_nothing_and_do_not_fail() -> None:
    """A warehouse published before any evaluation: empty charts and tables, no crash."""
    from fastapi import HTTPException

    from ecoperf_core.dashboard import web

    empty = {"asOf": None, "builtAt": "t", "latest": {}, "verdicts": [], "series": {}}
    for build in (web.overview_data, web.risk_data, web.cost_data):
        payload = build(empty)
        for figure in payload["figures"].values():
            values = [v for t in figure["data"] for v in [*t.get("x", []), *t.get("y", [])]]
            assert not [v for v in values if isinstance(v, int | float) and v], build.__name__
    assert web.decisions_data([], None, None, None, 10, {})["tables"]["decisions"] == []
    with pytest.raises(HTTPException) as nothing:
        web.component_data(empty, None, None)
    assert nothing.value.status_code == 404


# -- the trace page and root-cause panel's data --------------------------------------------------
def test_trace_and_root_cause_data_routes(dashboard_server: Server) -> None:
    from ecoperf_core.warehouse import writer

    with dashboard_server.client("read") as reader:
        # The root-cause panel opens on the worst node's latest change point.
        why = reader.get(f"{PREFIX}/data/why")
        assert why.status_code == 200, why.text
        body = why.json()
        assert (body["entity"], body["at"]) == ("node-17", "2026-11-29T06:05:00")
        assert body["incident"]["source"] == "detection:changepoint"
        first = body["tables"]["suspects"][0]
        assert (first["entity"]["text"], first["metric"]) == ("node node-17", "utilization")
        assert first["leadMinutes"] > 0 and first["correlation"] > 0.5 and first["changeAt"]
        bars = body["figures"]["suspects"]["data"][0]
        assert bars["y"][0] == "#1 node node-17 · utilization"
        assert bars["x"] == sorted(bars["x"], reverse=True)
        assert body["tables"]["examples"][0]["trace"]["link"] == "trace"
        # The deep-dive's example traces: the change point's window, slowest first.
        examples = reader.get(f"{PREFIX}/data/examples", params={"kind": "node", "id": "node-17"})
        assert examples.status_code == 200, examples.text
        assert examples.json()["window"]["reason"].startswith("latest changepoint")
        rows = examples.json()["tables"]["examples"]
        assert rows and [r["entityMs"] for r in rows] == sorted(
            (r["entityMs"] for r in rows), reverse=True
        )
        trace_id = rows[0]["trace"]["params"]["id"]
        trace = reader.get(f"{PREFIX}/data/trace", params={"id": trace_id})
        assert trace.status_code == 200, trace.text
        waterfall = trace.json()["figures"]["waterfall"]["data"]
        by_name = {t["name"]: t for t in waterfall}
        assert set(by_name) == {"qwallet-api", "qwallet", "qnet-node", "critical path"}
        path = by_name["critical path"]
        assert sum(path["x"]) == pytest.approx(trace.json()["durationMs"], abs=0.01)
        assert trace.json()["tables"]["critical"][0]["operation"] == "disk.write"
        # Refusals name what is wrong.
        bad_time = reader.get(
            f"{PREFIX}/data/why", params={"entity": "node-17", "at": "not-a-time"}
        )
        assert bad_time.status_code == 422
        assert bad_time.json()["detail"].startswith("at: expected an ISO time")
        unknown = reader.get(
            f"{PREFIX}/data/why", params={"entity": "node-99", "at": "2026-11-29T06:00"}
        )
        assert unknown.status_code == 404 and "node-99" in unknown.json()["detail"]
        model = _model(dashboard_server.home)
        quiet = next(
            s["id"] for key, s in model["series"].items() if key not in model["detections"]
        )
        no_detection = reader.get(f"{PREFIX}/data/why", params={"entity": quiet})
        assert no_detection.status_code == 422 and "at:" in no_detection.json()["detail"]
        assert reader.get(f"{PREFIX}/data/trace", params={"id": "ab" * 16}).status_code == 404
        assert reader.get(f"{PREFIX}/data/trace", params={"id": "not-hex"}).status_code == 422
        # While a flow writes, the debugging data answers 503 (never a lock error) and the
        # model-backed pages still answer.
        with writer(dashboard_server.home / "ecoperf.duckdb"):
            busy = reader.get(f"{PREFIX}/data/trace", params={"id": trace_id})
            assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
            assert reader.get(f"{PREFIX}/data/overview").status_code == 200
    with dashboard_server.client(token=None) as anonymous:
        assert anonymous.get(f"{PREFIX}/data/trace", params={"id": trace_id}).status_code == 401
        assert anonymous.get(f"{PREFIX}/trace").status_code == 200  # the page holds no data


def test_waterfall_of_a_hand_built_trace() -> None:
    """Bars start at their offset and last their duration, one colour per service, and the
    critical path is drawn over the spans it runs through."""
    from ecoperf_core.dashboard.debug_figures import trace_page
    from ecoperf_core.traces.analysis import flatten, trace_report

    def span(sid: str, parent: str | None, service: str, start: float, end: float) -> dict:  # type: ignore[type-arg]
        return {"span_id": sid, "parent_span_id": parent, "service": service, "name": sid,
                "start_ts": start, "end_ts": end, "status": "error" if sid == "db" else "ok"}  # fmt: skip

    spans = [
        span("root", None, "api", 0.0, 1.0),
        span("auth", "root", "auth", 0.1, 0.3),
        span("db", "root", "store", 0.2, 0.9),  # ends last: on the path; auth mostly overlaps
    ]
    report = trace_report(spans)
    page = trace_page({**report, "traceId": "ab", "waterfall": flatten(report)})
    data = {t["name"]: t for t in page["figures"]["waterfall"]["data"]}
    assert data["store"]["base"] == [200.0] and data["store"]["x"] == [700.0]
    assert data["store"]["marker"]["line"]["width"] == [2]  # the error span is outlined
    colours = {data[s]["marker"]["color"] for s in ("api", "auth", "store")}
    assert len(colours) == 3
    path = data["critical path"]
    # root's own time 0-0.1, auth 0.1-0.2, db 0.2-0.9, root again 0.9-1.0 (rows: root, auth, db)
    assert list(zip(path["y"], path["base"], path["x"], strict=True)) == [
        (0, 0.0, 100.0), (1, 100.0, 100.0), (2, 200.0, 700.0), (0, 900.0, 100.0),
    ]  # fmt: skip
    assert page["tables"]["critical"][0] == {
        "service": "store", "operation": "db", "criticalMs": 700.0, "share": 0.7,
    }  # fmt: skip
