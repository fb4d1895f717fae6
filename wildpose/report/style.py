"""The report page's stylesheet (inlined: the page loads nothing else)."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root { --ink: #1d1d1f; --muted: #6b6b70; --line: #dcdce0; --bad: #b00020; --ok: #1b7f3b; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f4f6; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 16px 24px 48px; }
header, section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 20px 16px; margin: 0 0 18px; }
h1 { font-size: 22px; margin: 4px 0; }
h2 { font-size: 18px; margin: 6px 0 2px; word-break: break-all; }
h3 { font-size: 15px; margin: 18px 0 6px; }
nav ol { margin: 6px 0 0; padding-left: 22px; columns: 2; }
.muted { color: var(--muted); margin: 0 0 8px; word-break: break-all; }
.bad { color: var(--bad); }
figure { margin: 8px 0 4px; }
figure h3 { margin-bottom: 4px; }
img.fig { display: block; max-width: 100%; height: auto; }
img.thumb { display: block; max-height: 200px; max-width: 100%; height: auto;
  border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 2px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top;
  border-bottom: 1px solid #ececf0; }
thead th { border-bottom: 1px solid var(--line); color: var(--muted); font-weight: 600; }
table.kv th { color: var(--muted); font-weight: 600; white-space: nowrap; }
table.batch td:nth-child(n+3):nth-child(-n+6), table.timings td:nth-child(n+2) {
  text-align: right; font-variant-numeric: tabular-nums; }
table.low td { vertical-align: middle; }
.err { color: var(--bad); font-size: 12px; }
.st { padding: 1px 7px; border-radius: 9px; font-size: 12px; color: #fff; background: #777; }
.st-done { background: var(--ok); }
.st-failed { background: var(--bad); }
.st-skipped { background: #6d7f99; }
.failures li { margin: 3px 0; }
.cols { display: flex; gap: 40px; flex-wrap: wrap; align-items: flex-start; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
pre { background: #f6f6f8; padding: 8px; overflow: auto; max-height: 360px; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--muted); }
a { color: #2456a6; }
.glance { flex: 1; min-width: 320px; background: #fff6e5; border: 1px solid #f0d59a;
  border-radius: 6px; padding: 2px 14px 6px; }
.glance.ok { background: #eef8f0; border-color: #b9dfc3; }
.glance h3 { margin: 8px 0 4px; }
.glance ul { margin: 0; padding-left: 18px; }
.glance li { margin: 3px 0; }
"""
