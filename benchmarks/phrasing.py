"""Template vs held-out phrasing: every TVR figure of the same queries in both wordings, per type, and ratios.

Used by `quality.py`: a split's template queries (`heldout`) and their held-out phrasings
(`heldout_phrasing`, `annotations/heldout_phrasing/` of a `kairos synth` corpus: same desc_ids and moments,
reserved words) are scored alike; this module lines up their metrics and checks the bar a retrained query
side has to meet (held-out >= 0.8x template VCMR R@10 at IoU 0.5 and VR R@1, for each query type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models.tvr_metrics import DESC_TYPES, TASKS

PAIRS: dict[str, str] = {"heldout": "heldout_phrasing", "compositional": "compositional_phrasing"}
GROUPS: tuple[str, ...] = ("all", *DESC_TYPES)
BAR_FIGURES: tuple[str, ...] = ("VCMR 0.5-r10", "VR r1")
BAR_RATIO = 0.8
TABLE_FIGURES: tuple[str, ...] = (
    "VCMR 0.5-r1",
    "VCMR 0.5-r10",
    "VCMR 0.5-r100",
    "VCMR 0.7-r1",
    "SVMR 0.5-r1",
    "VR r1",
    "VR r10",
)


def figures(metrics: Mapping[str, Any], group: str) -> dict[str, float]:
    """Every figure of one query group ("all" or a type), keyed `TASK key` (e.g. `VCMR 0.5-r10`)."""
    out: dict[str, float] = {}
    for task in TASKS:
        if group == "all":
            out |= {f"{task} {key}": float(value) for key, value in metrics[task].items()}
        else:
            prefix = f"{group}-"
            by_type = metrics[f"{task}_by_type"].items()
            out |= {f"{task} {k.removeprefix(prefix)}": float(v) for k, v in by_type if k.startswith(prefix)}
    return out


def compare(template: Mapping[str, Any], phrased: Mapping[str, Any]) -> dict[str, Any]:
    """Per group: the template figures, the held-out phrasing figures and their ratio (None if 0 / 0)."""
    out: dict[str, Any] = {}
    for group in GROUPS:
        before, after = figures(template, group), figures(phrased, group)
        ratio = {key: round(after[key] / value, 3) if value else None for key, value in before.items()}
        out[group] = {"template": before, "heldout_phrasing": after, "ratio": ratio}
    return out


def check_pairs(splits: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Each held-out phrasing split must hold exactly its template split's desc_ids, moments and types."""
    for template, phrased in PAIRS.items():
        if phrased in splits:
            key = [(r["desc_id"], r["vid_name"], tuple(r["ts"]), r["type"]) for r in splits[template]]
            other = [(r["desc_id"], r["vid_name"], tuple(r["ts"]), r["type"]) for r in splits[phrased]]
            if sorted(key) != sorted(other):
                raise SystemExit(f"{phrased} is not {template} in other words (desc_ids, moments or types)")


def report(results: Mapping[str, Mapping[str, Any]], systems: Sequence[str]) -> dict[str, Any]:
    """`{template split: {system: compare(...)}}` for each pair of splits present in `results`."""
    return {
        template: {system: compare(results[template][system], results[phrased][system]) for system in systems}
        for template, phrased in PAIRS.items()
        if template in results and phrased in results
    }


def bar_check(kairos: Mapping[str, Any]) -> dict[str, Any]:
    """The bar for a retrained query side: ratio >= 0.8 of each `BAR_FIGURES` figure, for each query type."""
    checks: dict[str, Any] = {}
    for group in DESC_TYPES:
        for figure in BAR_FIGURES:
            value = kairos[group]["ratio"][figure]
            met = value is not None and value >= BAR_RATIO
            checks[f"{group} {figure} held-out/template >= {BAR_RATIO:g}"] = {"value": value, "met": met}
    checks["all_met"] = all(check["met"] for check in checks.values())
    return checks


def bar_line(checks: Mapping[str, Any]) -> str:
    """One markdown sentence: whether the bar is met, and which figures miss it."""
    missed = [f"{name} ({c['value']})" for name, c in checks.items() if name != "all_met" and not c["met"]]
    verdict = "met" if not missed else "MISSED by " + ", ".join(missed)
    return f"Bar for a retrained query side (Kairos, held-out phrasing vs template, per type): {verdict}."


def _cell(comparison: Mapping[str, Any], figure: str) -> str:
    ratio = comparison["ratio"][figure]
    return (
        f"{comparison['template'][figure]:.2f} / {comparison['heldout_phrasing'][figure]:.2f} "
        f"({'–' if ratio is None else f'{ratio:.2f}'})"
    )


def markdown(phrasing: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """A table per split: template / held-out phrasing (ratio) of the main figures, per type and system."""
    lines: list[str] = []
    for split, by_system in phrasing.items():
        lines += [
            f"### {split}: template / held-out phrasing (held-out ÷ template), same queries in other words",
            "",
            "| type | system | " + " | ".join(TABLE_FIGURES) + " |",
            "|" + " --- |" * (2 + len(TABLE_FIGURES)),
        ]
        for group in GROUPS:
            for system, comparison in by_system.items():
                cells = " | ".join(_cell(comparison[group], figure) for figure in TABLE_FIGURES)
                lines.append(f"| {group} | {labels[system]} | {cells} |")
        lines.append("")
    return lines
