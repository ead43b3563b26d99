"""Markdown reports a person can read: one per deploy run, one per DR drill (also Prefect
artifacts when run by a flow)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecoperf_core.deploy.drill import DrillRun
    from ecoperf_core.deploy.runner import DeployRun


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def deploy_report(run: DeployRun) -> str:
    steps = " → ".join(f"{s:g}%" for s in run.steps)
    lines = [
        f"# Deploy {run.deployment} (baseline {run.baseline}): **{run.outcome}**",
        "",
        f"- strategy: {run.strategy}, mode: {run.mode}, environment: {run.environment}",
        f"- traffic steps: {steps}; interval {run.interval_s:g} s from {run.started_from:%Y-%m-%d %H:%M:%S}",
        f"- final candidate traffic: {run.final_traffic:g}%",
        f"- reason: {_cell(run.reason)}",
        f"- run key: `{run.run_key}`",
        "",
        "## Gate check",
        "",
    ]
    gate = run.gate or {}
    if not gate:
        lines.append("not run")
    elif gate.get("skipped"):
        lines.append(f"skipped in `{gate.get('environment')}`: {_cell(str(gate.get('reason')))}")
    else:
        output = gate.get("output", {})
        verdict = "passed" if gate.get("passed") else "failed"
        lines.append(f"{verdict} in `{gate.get('environment')}`")
        for v in output.get("violations", []):
            lines.append(
                f"- {v['type']}: {v['current']} against threshold {v['threshold']} "
                f"(baseline {v['baseline']}, {v['severity']})"
            )
    if run.intervals:
        lines += [
            "",
            "## Intervals",
            "",
            f"| # | traffic | window (data time) | n {run.baseline} | n {run.deployment} | "
            "verdict | score | action | hooks | reason |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for i in run.intervals:
            hooks = ", ".join(f"{h.hook}: {h.status}" for h in i.hooks) or "-"
            lines.append(
                f"| {i.seq} | {i.traffic:g}% | {i.window_from:%H:%M:%S} to {i.window_to:%H:%M:%S} "
                f"| {i.samples.get(run.baseline, 0)} | {i.samples.get(run.deployment, 0)} "
                f"| {i.verdict} | {_num(i.score)} | {i.action} | {hooks} | {_cell(i.reason)} |"
            )
        lines += ["", "## Metrics per interval", ""]
        lines.append("| # | metric | verdict | n base | n cand | effect | reason |")
        lines.append("|---|---|---|---|---|---|---|")
        for i in run.intervals:
            for m in i.metrics:
                lines.append(
                    f"| {i.seq} | {m.get('name')} | {m.get('verdict')} | {m.get('n_baseline')} "
                    f"| {m.get('n_canary')} | {_num(m.get('effect_size'), 3)} "
                    f"| {_cell(str(m.get('reason', '')))} |"
                )
    if run.hooks:
        lines += [
            "",
            "## Hook calls",
            "",
            "| hook | status | attempts | detail |",
            "|---|---|---|---|",
        ]
        for h in run.hooks:
            lines.append(f"| {h.hook} | {h.status} | {h.attempts} | {_cell(h.detail)} |")
    return "\n".join(lines) + "\n"


def drill_report(drill: DrillRun) -> str:
    lines = [
        f"# DR drill {drill.environment} vs {drill.primary}: **{drill.verdict}**",
        "",
        f"- measured RTO (restore: copy, open, verify): {_num(drill.rto_seconds, 3)} s "
        f"(policy {drill.rto_limit_s:g} s)",
        f"- measured RPO (primary's newest data minus restored newest): {_num(drill.rpo_seconds, 0)} s "
        f"(policy {drill.rpo_limit_s:g} s)",
        f"- backup: `{drill.backup_name}`",
        f"- drill id: `{drill.drill_id}`",
    ]
    if drill.reasons:
        lines += ["", "## Why the policy was breached", ""]
        lines += [f"- {_cell(r)}" for r in drill.reasons]
    checks = drill.checks
    lines += [
        "",
        "## (a) Baseline verification: DR against primary's baselines (CI/CD gate criteria)",
        "",
    ]
    lines += ["| entity | passed | violations |", "|---|---|---|"]
    for entity, gate in sorted(checks.get("baseline", {}).get("gates", {}).items()):
        kinds = ", ".join(v["type"] for v in gate.get("violations", [])) or "-"
        lines.append(f"| {entity} | {gate.get('passed')} | {kinds} |")
    for entity in checks.get("baseline", {}).get("missing", []):
        lines.append(f"| {entity} | False | too little data |")
    lines += ["", "## (b) Restore drill: rows and checksums per table", ""]
    lines += ["| table | rows backed up | rows restored | checksum match |", "|---|---|---|---|"]
    restore = checks.get("restore", {})
    for table, row in sorted(restore.get("tables", {}).items()):
        lines.append(
            f"| {table} | {row.get('manifestRows')} | {_num(row.get('restoredRows'))} "
            f"| {row.get('match')} |"
        )
    failover = checks.get("failover", {})
    recovery = checks.get("recovery", {})
    lines += [
        "",
        "## (c) Failover trigger",
        "",
        f"failover {'recommended' if failover.get('failover') else 'not needed'} "
        f"(mode {failover.get('mode')}): {_cell('; '.join(failover.get('reasons', [])) or 'primary healthy')}",
    ]
    if failover.get("hook"):
        lines.append(
            f"- failover hook: {failover['hook'].get('status')} {failover['hook'].get('detail')}"
        )
    lines += [
        "",
        "## (d) Recovery validation: may traffic return to primary?",
        "",
        f"{'yes' if recovery.get('passed') else 'no'}: "
        f"{_cell('; '.join(recovery.get('reasons', [])) or 'primary passes the gate against DR')}",
    ]
    return "\n".join(lines) + "\n"
