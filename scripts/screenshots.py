#!/usr/bin/env python3
"""Take the dashboard screenshots in docs/screenshots/ from a real `hookaudit demo` fleet.

    python scripts/screenshots.py                 # all pictures, into docs/screenshots/
    python scripts/screenshots.py --out /tmp/x    # somewhere else

Starts the demo (a fresh temp state dir, any free port), waits until the history burst has
been played, lets the trickle run a while (--trickle, so a guest's boots spread over minutes
instead of seconds) and waits until the hosts' spools are forwarded, then finds the interesting objects through the JSON API (a guest that
migrated between two hosts, a migrate filter that rewrote the XML, the refused starts), logs
in through the login form with Playwright driving Debian's /usr/bin/chromium (never
`playwright install`), saves the PNGs, then stops the demo with SIGINT and waits for it.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1366, "height": 900}
MAX_HEIGHT = 2400          # full-page shots are cut here so they stay readable


class DemoRun:
    """`hookaudit demo` as a child process; its stdout is echoed and watched for milestones."""

    def __init__(self, state: Path, duration: float, seed: int, rate: float):
        cmd = [sys.executable, "-m", "app.cli", "demo", "--port", "0", "--dir", str(state),
               "--duration", str(duration), "--seed", str(seed), "--rate", str(rate)]
        self.state = state
        self.lines: list[str] = []
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)   # our Ctrl-C is ours to forward
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            print("  demo| " + line.rstrip("\n"), flush=True)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None:
                raise SystemExit(f"the demo exited ({self.proc.returncode}) before '{text}'")
            if time.monotonic() > deadline:
                raise SystemExit(f"no '{text}' from the demo within {timeout:.0f} s")
            time.sleep(0.2)

    def creds(self) -> dict:
        return json.loads((self.state / "demo.json").read_text())

    def stop(self) -> int:
        """SIGINT as Ctrl-C would: in-flight calls finish, spools drain, the server stops."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGINT)     # the second one skips the drain
                try:
                    return self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
        return self.proc.wait()


class Api:
    def __init__(self, creds: dict):
        self.base = creds["url"].rstrip("/") + "/api/v1"
        self.headers = {"Authorization": f"Bearer {creds['admin_token']}"}

    def get(self, path: str, **params):
        r = httpx.get(self.base + path, params=params, headers=self.headers, timeout=30)
        r.raise_for_status()
        return r.json()

    def events(self, **params) -> list[dict]:
        return self.get("/events", limit=500, **params)["items"]


def wait_delivered(api: Api, timeout: float = 60) -> None:
    """Until the hosts' heartbeats report (nearly) empty spools and no seq gap is open: the
    burst, including the host that was offline, has arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hosts = api.get("/hosts")
        # the demo keeps one host offline (stale) on purpose: it never drains
        live = [h for h in hosts if h["health"] != "stale"]
        if live and all((h["spool_depth"] or 0) < 3 and not h["open_gaps"] for h in live):
            return
        time.sleep(1)


def pick_migrated_guest(api: Api) -> tuple[dict, dict | None]:
    """A guest with boots on exactly two hosts joined by a migration, preferably one whose
    filter rewrote the XML; returns (its timeline, that migrate event). Prefers a handful of
    boots spread over the trickle (readable bars) to a life crammed into the burst."""
    migrates = api.events(op="migrate", outcome="ok", order="asc")
    rewrites = {e["domain_uuid"]: e for e in migrates if e["output_xml_sha256"]}
    best, best_score = None, None
    for uuid in dict.fromkeys(e["domain_uuid"] for e in migrates):
        tl = api.get(f"/guests/{uuid}/timeline")
        hosts = Counter(b["host"] for b in tl["boots"])
        moves = sum(b["migrated_from"] is not None for b in tl["boots"])
        if len(hosts) != 2 or not moves:
            continue
        score = (uuid in rewrites, 3 <= len(tl["boots"]) <= 7, _span_s(tl))
        if best_score is None or score > best_score:
            best, best_score = tl, score
    if best is None:
        raise SystemExit("no guest migrated between two hosts; run with a longer --trickle")
    uuid = best["guest"]["domain_uuid"]
    return best, rewrites.get(uuid) or next(iter(rewrites.values()), None)


def _span_s(timeline: dict) -> float:
    times = [b["started_at"] for b in timeline["boots"]]
    return (_ts(max(times)) - _ts(min(times))).total_seconds()


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def find_aborts(api: Api) -> dict[str, dict]:
    """The two refused starts of the opening: the policy denial and the crashing adopted script."""
    found = {}
    for e in api.events(outcome="aborted", order="asc"):
        if e["object"] == "prod-gpu-01" and "policy" in (e["reason"] or ""):
            found.setdefault("policy", e)
        if e["object"] == "dev-legacy-01":
            found.setdefault("script", e)
    return found


def shoot(page, path: Path, full: bool = True) -> None:
    """A screenshot of the page; full-page but not taller than MAX_HEIGHT."""
    page.wait_for_load_state("networkidle")
    height = page.evaluate("document.documentElement.scrollHeight")
    if full and height > VIEWPORT["height"]:
        clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": min(height, MAX_HEIGHT)}
        page.screenshot(path=str(path), full_page=True, clip=clip)
    else:
        page.screenshot(path=str(path))
    print(f"saved {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)


def log_in(page, creds: dict) -> None:
    page.goto("/login")
    page.fill("input[name=username]", creds["admin_user"])
    page.fill("input[name=password]", creds["admin_password"])
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def plan(api: Api) -> list[tuple[str, str]]:
    """(file name, dashboard path) of every picture, with the objects found through the API."""
    timeline, diff_event = pick_migrated_guest(api)
    aborts = find_aborts(api)
    uuid = timeline["guest"]["domain_uuid"]
    print(f"guest: {timeline['guest']['name']} ({len(timeline['boots'])} boots); migrate diff:"
          f" {diff_event and diff_event['event_id']}; aborts: {sorted(aborts)}", flush=True)
    # The whole life: the demo compresses a day into a minute, so "day of the last call"
    # would squeeze the guest's boots into one pixel column.
    shots = [("overview.png", "/"), ("guest-timeline.png", f"/guests/{uuid}?range=all"),
             ("aborts.png", "/aborts"), ("events.png", "/events"), ("hosts.png", "/hosts"),
             ("guests.png", "/guests"), ("policies.png", "/policies"),
             ("admin-hosts.png", "/admin/hosts")]
    # The crashing adopted script shows every part at once: outcome, reason, the script's
    # traceback and the policy verdicts of the same call.
    event = aborts.get("script") or aborts.get("policy")
    if event:
        shots.append(("event.png", f"/events/{event['event_id']}"))
    if diff_event:
        shots.append(("event-migrate-diff.png", f"/events/{diff_event['event_id']}"))
    return shots


def take(creds: dict, shots: list[tuple[str, str]], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            ctx = browser.new_context(base_url=creds["url"].rstrip("/"), viewport=VIEWPORT)
            page = ctx.new_page()
            log_in(page, creds)
            for name, path in shots:
                page.goto(path)
                shoot(page, out / name)
            ctx.close()
        finally:
            browser.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    p.add_argument("--seed", type=int, default=1, help="the demo's fleet and scenario")
    p.add_argument("--trickle", type=float, default=150,
                   help="seconds of trickle after the burst, so timelines spread over minutes")
    p.add_argument("--rate", type=float, default=6, help="hook calls per second in the trickle")
    args = p.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} not found (apt-get install chromium)")
    # The state dir shows in the pictures (adopted scripts' paths): keep it short.
    with tempfile.TemporaryDirectory(prefix="demo-") as tmp:
        demo = DemoRun(Path(tmp), duration=args.trickle + 600, seed=args.seed, rate=args.rate)
        try:
            demo.wait_for("steady trickle", timeout=600)
            print(f"letting the fleet run {args.trickle:g} s more", flush=True)
            time.sleep(args.trickle)
            creds = demo.creds()
            api = Api(creds)
            wait_delivered(api)
            take(creds, plan(api), args.out.resolve())
        finally:
            rc = demo.stop()
            print(f"demo stopped (exit {rc})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
