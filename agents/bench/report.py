"""The suite report: `runs/<suite>/report.json`, `report.md` and figures, from whatever runs have finished.

Built at the end of every `credo bench credit` (and by `--report-only`, or `credo runs compare runs/<suite>`), so
a partial suite can be looked at; each table says how many seeds each number rests on. Nothing is ranked: every
arm is compared with outcome-only on the same task, and a difference is starred only when its 95% CI excludes 0.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from agents.bench import results as res
from agents.bench import stats
from agents.bench.suite import BASELINE_ARM, CELL_FILE, SUITE_FILE, SuiteConfig
from agents.runs import write_atomic

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
BARS_PNG = "bars.png"
CURVES_PNG = "curves.png"


def is_suite(path: Path) -> bool:
    return (Path(path) / SUITE_FILE).is_file()


def _estimate(values: list[float | None]) -> dict[str, Any]:
    point, ci = stats.iqm_ci([v for v in values if v is not None])
    kept = [v for v in values if v is not None]
    return {"iqm": point, "ci": list(ci) if ci else None, "n": len(kept),
            "mean": sum(kept) / len(kept) if kept else None, "values": values}


def _difference(arm: list[float | None], base: list[float | None]) -> dict[str, Any]:
    diff, ci = stats.difference_ci([v for v in arm if v is not None], [v for v in base if v is not None])
    return {"diff": diff, "ci": list(ci) if ci else None, "excludes_0": stats.excludes_zero(ci)}


def build(suite_dir: Path) -> dict[str, Any]:
    """Aggregate every finished run of the suite folder into the report dict (and write it with figures)."""
    from agents.evaluate import wilson_interval

    suite_dir = Path(suite_dir)
    suite = SuiteConfig.build(yaml.safe_load((suite_dir / SUITE_FILE).read_text()), source=str(suite_dir / SUITE_FILE))
    found, unfinished, failed = [], [], {}
    for path in sorted(p.parent for p in suite_dir.glob(f"*/{CELL_FILE}")):
        run = res.read_run(path)
        if run is not None:
            found.append(run)
        elif (path / "bench_error.txt").is_file():
            failed[path.name] = (path / "bench_error.txt").read_text().strip()
        else:
            unfinished.append(path.name)
    tasks: dict[str, Any] = {}
    for tname, task in suite.tasks.items():
        train = {**suite.train, **task.train}
        arms: dict[str, Any] = {}
        runs_of = {a: sorted((r for r in found if r.task == tname and r.arm == a), key=lambda r: r.seed)
                   for a in suite.task_arms(tname)}
        base = runs_of.get(BASELINE_ARM, [])
        base_wall = stats.iqm_ci([r.wall_time for r in base])[0] if base else None
        for arm, runs in runs_of.items():
            if not runs:
                continue
            entry: dict[str, Any] = {"description": suite.arms[arm].description, "seeds": [r.seed for r in runs],
                                     "n": len(runs), "metrics": {}, "vs_outcome": {}}
            for key in res.METRICS:
                values = [r.values[key] for r in runs]
                entry["metrics"][key] = _estimate(values)
                if base and arm != BASELINE_ARM:
                    entry["vs_outcome"][key] = _difference(values, [r.values[key] for r in base])
            k = sum(r.collapsed for r in runs)
            entry["collapse"] = {"runs": k, "n": len(runs), "rate": k / len(runs),
                                 "ci": list(wilson_interval(k, len(runs)))}
            wall = stats.iqm_ci([r.wall_time for r in runs])[0]
            parts = sorted({p for r in runs for p in r.shares})
            entry["time"] = {"wall_s": wall, "eval_s": sum(r.eval_seconds for r in runs) / len(runs),
                             "wall_x_outcome": wall / base_wall if wall and base_wall else None,
                             "shares": {p: sum(r.shares.get(p, 0.0) for r in runs) / len(runs) for p in parts}}
            entry["curves"] = {r.seed: r.curve for r in runs}
            arms[arm] = entry
        tasks[tname] = {"env": task.env, "budget_env_steps": train.get("total_env_steps"),
                        "max_episode_steps": train.get("max_episode_steps"), "eval_episodes": train.get("eval_episodes"),
                        "eval_every_env_steps": train.get("eval_every_env_steps"), "arms": arms}
    report = {"suite": suite.name, "description": suite.description, "tuning": suite.tuning,
              "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "statistics": {"point": "IQM over seeds (scipy.stats.trim_mean, 25% each end)",
                             "interval": f"{stats.CONFIDENCE:.0%} percentile bootstrap over seeds, stratified by "
                                         f"task (scipy.stats.bootstrap, {stats.RESAMPLES} resamples, seed 0)",
                             "difference": f"IQM(arm) - IQM({BASELINE_ARM}), arms resampled independently",
                             "collapse": res.COLLAPSE_RULE},
              "runs": {"finished": len(found), "unfinished": unfinished, "failed": failed},
              "tasks": tasks, "all_tasks": _all_tasks(suite, found)}
    from agents.bench.diagnostic import DIAGNOSTIC_JSON

    diag = suite_dir / DIAGNOSTIC_JSON
    if diag.is_file():
        report["diagnostic"] = json.loads(diag.read_text())
    figures = []
    if found:
        from agents.bench.figures import bars, curves

        figures = [bars(report, suite_dir / BARS_PNG), curves(report, suite_dir / CURVES_PNG)]
    report["figures"] = [p.name for p in figures]
    write_atomic(suite_dir / REPORT_JSON, json.dumps(report, indent=1) + "\n")
    write_atomic(suite_dir / REPORT_MD, markdown(report))
    return report


def _all_tasks(suite: SuiteConfig, found: list[res.RunResult]) -> dict[str, Any]:
    """Success AUC over every task an arm ran on with outcome-only, runs resampled within tasks."""
    out = {}
    for arm in suite.arms:
        tasks = [t for t in suite.tasks if any(r.task == t and r.arm == arm for r in found)
                 and any(r.task == t and r.arm == BASELINE_ARM for r in found)]
        if len(tasks) < 2:
            continue
        per_task = [[r.values["auc"] for r in found if r.task == t and r.arm == arm] for t in tasks]
        point, ci = stats.stratified_iqm_ci(per_task)
        out[arm] = {"tasks": tasks, "auc": {"iqm": point, "ci": list(ci) if ci else None}}
    return out


def _fmt(est: dict[str, Any] | None, digits: int = 2) -> str:
    if not est or est.get("iqm") is None:
        return "-"
    ci = est.get("ci")
    return f"{est['iqm']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _fmt_diff(d: dict[str, Any] | None) -> str:
    if not d or d.get("diff") is None:
        return "-"
    ci = d.get("ci")
    text = f"{d['diff']:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
    return text + ("*" if d.get("excludes_0") else "")


def markdown(report: dict[str, Any]) -> str:
    """report.md: one table per task, the cross-task AUC, the diagnostic, definitions, failed runs."""
    st = report["statistics"]
    runs = report["runs"]
    lines = [f"# Suite `{report['suite']}`", ""]
    if report["description"]:
        lines += [report["description"].strip(), ""]
    lines += [f"Runs finished: {runs['finished']}; unfinished: {len(runs['unfinished'])}; failed: "
              f"{len(runs['failed'])}. Generated {report['generated']}.", "",
              f"Every number is the {st['point']} with its {st['interval']}. Δ = {st['difference']}; `*` marks a "
              "difference whose CI excludes 0. Arms are not ranked: where the CIs overlap, the data do not order "
              "them. Outcomes are held-out evaluations (eval.jsonl), never training-window numbers.", ""]
    if any(a["n"] < 5 for t in report["tasks"].values() for a in t["arms"].values()):
        lines += ["Some cells have fewer than 5 seeds: a percentile bootstrap over so few runs is too narrow (3 seeds "
                  "give 10 distinct resamples); read those intervals as descriptive, not as tests.", ""]
    if report.get("tuning"):
        lines += [f"Tuning: {report['tuning'].strip()}", ""]
    for tname, task in report["tasks"].items():
        lines += [f"## {tname}: `{task['env']}`", "",
                  f"Budget {task['budget_env_steps']} env steps, step cap {task['max_episode_steps']}, "
                  f"{task['eval_episodes']} held-out episodes per evaluation every {task['eval_every_env_steps']} "
                  "env steps.", ""]
        if not task["arms"]:
            lines += ["No finished run yet.", ""]
            continue
        head = ["arm", "n", "success AUC", "Δ AUC", "final success", "Δ final", "final greedy", "length",
                "efficiency", "collapse", "wall s (× outcome)", "credit share"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for arm, e in task["arms"].items():
            m, d, t = e["metrics"], e["vs_outcome"], e["time"]
            wall = "-" if t["wall_s"] is None else f"{t['wall_s']:.0f}" + (
                f" ({t['wall_x_outcome']:.2f}×)" if t.get("wall_x_outcome") else "")
            lines.append("| " + " | ".join([
                arm, str(e["n"]), _fmt(m["auc"]), _fmt_diff(d.get("auc")), _fmt(m["final_success"]),
                _fmt_diff(d.get("final_success")), _fmt(m["final_success_greedy"]), _fmt(m["final_length"], 1),
                _fmt(m["final_efficiency"]), f"{e['collapse']['runs']}/{e['collapse']['n']}", wall,
                f"{t['shares'].get('credit', 0.0):.0%}"]) + " |")
        lines.append("")
        keyed = {arm: e for arm, e in task["arms"].items() if e["metrics"]["final_key"]["iqm"] is not None}
        if keyed:
            lines += ["Sub-goal: share of the last evaluation's episodes that picked up the key.", "",
                      "| arm | n | key picked up | Δ key |", "|---|---|---|---|"]
            lines += [f"| {arm} | {e['metrics']['final_key']['n']} | "
                      f"{_fmt(e['metrics']['final_key'])} | {_fmt_diff(e['vs_outcome'].get('final_key'))} |"
                      for arm, e in keyed.items()]
            lines.append("")
        shares = []
        for arm, e in task["arms"].items():
            parts = {k: v for k, v in e["time"]["shares"].items() if k not in ("credit", "outcome") and v >= 0.005}
            if parts:
                shares.append(f"{arm}: " + ", ".join(f"{k} {v:.0%}" for k, v in sorted(parts.items())))
        if shares:
            lines += ["Share of training wall time: " + "; ".join(shares) + ".", ""]
    if report.get("all_tasks"):
        lines += ["## Success AUC over all tasks (stratified bootstrap)", "", "| arm | tasks | success AUC |",
                  "|---|---|---|"]
        for arm, e in report["all_tasks"].items():
            lines.append(f"| {arm} | {', '.join(e['tasks'])} | {_fmt(e['auc'])} |")
        lines.append("")
    if report.get("diagnostic"):
        from agents.bench.diagnostic import markdown as diagnostic_markdown

        lines += diagnostic_markdown(report["diagnostic"])
    lines += ["## Definitions", "",
              "- success AUC: area under held-out sampled success vs env steps over the evaluated range, divided by "
              "its length (the mean success over training);",
              "- final success / greedy / length / efficiency: the last held-out evaluation (efficiency: mean "
              "shortest/taken path over its successful episodes); key picked up: the share of its episodes that "
              "ever carried the key (KeyRoom);",
              f"- collapse: {st['collapse']};",
              "- wall s: training seconds (IQM; evaluation excluded); credit share: credit modules' seconds over "
              "training seconds.", ""]
    if report.get("figures"):
        lines += [f"Figures: {', '.join(report['figures'])}.", ""]
    if runs["failed"]:
        lines += ["## Failed runs", ""] + [f"- {k}: {v}" for k, v in runs["failed"].items()] + [""]
    return "\n".join(lines)
