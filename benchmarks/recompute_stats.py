"""Recompute a report's tested claims from its results files, independently of report_builder's statistics, and
compare them with the claims.json the report wrote.

    python -m benchmarks.recompute_stats --config experiments.toml --results results --claims build/claims.json

It reads experiments.toml with tomllib and the results JSON files directly, and writes its own arithmetic:
the paired t statistic and interval from the per-seed differences' mean and SD, Holm's adjustment by its
step-down definition, the pooled planning SD, the detectable difference by bisection on the noncentral t,
the reproduction's prediction t-test and TOST, and the interval over seeds and test images from the
prediction bytes. Only scipy's distributions (and its one-sample t interval) are shared. Exit status 1 when a
number differs.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import math
import sys
import tomllib
from pathlib import Path

import numpy as np
from scipy import stats

LEVEL, POWER, MIN_SEEDS = 0.05, 0.8, 3


def finals(result: dict) -> tuple[int | None, dict[int, float], dict[int, np.ndarray]]:
    """(last epoch, {seed: final accuracy}, {seed: right per image}) of the healthy runs."""
    runs = [r for r in result["runs"] if not r.get("diverged_at") and r["epochs"]]
    if not runs:
        return None, {}, {}
    epoch = min(r["epochs"][-1]["epoch"] for r in runs)
    values = {r["seed"]: r["epochs"][epoch - 1]["test_accuracy"] for r in runs}
    right = {r["seed"]: np.frombuffer(base64.b64decode(r["test_predictions"]), np.uint8) >= 128
             for r in runs if r.get("test_predictions") and r["epochs"][-1]["epoch"] == epoch}
    return epoch, values, right


def holm(ps: list[float]) -> list[float]:
    order = np.argsort(ps, kind="stable")
    m, out, running = len(ps), [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def power(delta: float, sd: float, n: int, alpha: float) -> float:
    c, nc = stats.t.ppf(1 - alpha / 2, n - 1), delta * math.sqrt(n) / sd
    return stats.nct.sf(c, n - 1, nc) + stats.nct.sf(c, n - 1, -nc)


def detectable(sd: float, n: int, alpha: float) -> float:
    low, high = 0.0, 50 * sd
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if power(mid, sd, n, alpha) < POWER else (low, mid)
    return high


def seeds_and_images(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The seeds' paired t interval (from scipy's ttest_1samp on the per-seed differences) widened by the images'
    normal half-width (the SD of each image's seed-averaged difference ÷ √N), in quadrature."""
    diff = a.astype(float) - b
    per_seed = diff.mean(axis=1)
    ci = stats.ttest_1samp(per_seed, 0.0).confidence_interval(0.95)
    images = diff.mean(axis=0)
    half = math.sqrt(((ci.high - ci.low) / 2) ** 2
                     + (stats.norm.ppf(0.975) * images.std(ddof=1) / math.sqrt(len(images))) ** 2)
    return float(per_seed.mean() - half), float(per_seed.mean() + half)


def recompute(config: Path, results: Path) -> dict[str, dict]:
    doc = tomllib.loads(config.read_text(encoding="utf-8"))
    choice = doc.get("report", {}).get("family", "question")
    loaded = {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
    data = {name: finals(r) for name, r in loaded.items() if r.get("status") == "done"}
    claims: dict[str, dict] = {}
    seen = set()
    for group, table in doc.get("groups", {}).items():
        base = table.get("baseline")
        for member in table["experiments"] if base else ():
            if member == base or (member, base) in seen or member not in data or base not in data:
                continue
            seen.add((member, base))
            (ea, a, ra), (eb, b, rb) = data[member], data[base]
            if ea is None or ea != eb:
                continue
            shared = sorted(set(a) & set(b))
            family = "report" if choice == "report" else f"group:{group}"
            claim = {"family": family, "a": a, "b": b, "difference": None, "p": None, "interval": None}
            if len(shared) >= MIN_SEEDS:
                d = np.array([a[s] - b[s] for s in shared])
                n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
                se = sd / math.sqrt(n)
                half = stats.t.ppf(0.975, n - 1) * se
                claim.update(difference=mean, p=float(2 * stats.t.sf(abs(mean) / se, n - 1)) if sd else float(mean == 0),
                             interval=(mean - half, mean + half), n=n)
                both = [s for s in shared if s in ra and s in rb]
                if len(both) >= MIN_SEEDS:
                    claim["seeds_and_images"] = seeds_and_images(np.stack([ra[s] for s in both]),
                                                                 np.stack([rb[s] for s in both]))
            claims[f"{group}/{member}-vs-{base}"] = claim
    families: dict[str, list[str]] = {}
    for cid, c in claims.items():
        if c["p"] is not None:
            families.setdefault(c["family"], []).append(cid)
    for family, ids in families.items():
        for cid, adjusted in zip(ids, holm([claims[i]["p"] for i in ids])):
            claims[cid]["adjusted_p"] = adjusted
        members = {}
        for cid in ids:
            exp, base = cid.split("/")[1].split("-vs-")
            members[exp], members[base] = claims[cid]["a"], claims[cid]["b"]
        usable = [list(v.values()) for v in members.values() if len(v) >= 2]
        dof = sum(len(v) - 1 for v in usable)
        pooled = math.sqrt(sum(np.var(v, ddof=1) * (len(v) - 1) for v in usable) / dof)
        for cid in ids:
            claims[cid]["detectable"] = detectable(math.sqrt(2) * pooled, claims[cid]["n"], LEVEL / len(ids))
    for c in claims.values():
        p, adj = c["p"], c.get("adjusted_p")
        c["verdict"] = ("untestable" if p is None else "beyond_noise" if adj < LEVEL
                        else "not_significant_after_correction" if p < LEVEL else "within_noise")
        c["family_size"] = len(families.get(c["family"], []))
    claims.update(reproductions(doc, config.parent, data))
    return claims


def reproductions(doc: dict, where: Path, data: dict) -> dict[str, dict]:
    ref = doc.get("reference")
    if not ref:
        return {}
    margin = ref.get("tolerance_points", 1.0) / 100
    rows = list(csv.DictReader((where / ref["file"]).open()))
    last = {}
    for row in rows:
        if row["experiment"] not in last or int(row["epoch"]) > int(last[row["experiment"]]["epoch"]):
            last[row["experiment"]] = row
    found = {}
    for name, row in last.items():
        if name not in data or not row.get("test_accuracy") or (data[name][0] or 0) < int(row["epoch"]):
            continue  # no reference accuracy, or our runs stopped before its last epoch: nothing to compare
        epoch, theirs = int(row["epoch"]), float(row["test_accuracy"])
        values = [v for v in data[name][1].values()]  # finals: the reference's last epoch is ours in this config
        claim = {"p": None, "family": None}
        if len(values) >= MIN_SEEDS and data[name][0] == epoch:
            n, mean, sd = len(values), float(np.mean(values)), float(np.std(values, ddof=1))
            se = sd * math.sqrt(1 + 1 / n)
            claim.update(p=float(2 * stats.t.sf(abs(theirs - mean) / se, n - 1)),
                         equivalence_p=float(max(stats.t.sf((mean - theirs + margin) / se, n - 1),
                                                 stats.t.cdf((mean - theirs - margin) / se, n - 1))),
                         family="reproduction", difference=mean - theirs)
        found[f"reproduction/{name}"] = claim
    tested = [k for k, c in found.items() if c["p"] is not None]
    for key, d, e in zip(tested, holm([found[k]["p"] for k in tested]), holm([found[k]["equivalence_p"] for k in tested])):
        found[key].update(adjusted_p=d, equivalence_adjusted_p=e, family_size=len(tested),
                          verdict="not_reproduced" if d < LEVEL else "reproduced" if e < LEVEL else "inconclusive")
    for c in found.values():
        c.setdefault("verdict", "untestable")
    return found


def compare(ours: dict[str, dict], written: list[dict]) -> list[str]:
    problems = []
    by_id = {c["id"]: c for c in written}
    for cid, mine in ours.items():
        theirs = by_id.get(cid)
        if theirs is None:
            problems.append(f"{cid}: not in claims.json")
            continue
        for key in ("difference", "p", "adjusted_p", "equivalence_p", "equivalence_adjusted_p", "detectable"):
            if mine.get(key) is not None and not math.isclose(mine[key], theirs[key], rel_tol=1e-6, abs_tol=1e-9):
                problems.append(f"{cid}: {key} {mine[key]!r} here, {theirs[key]!r} in claims.json")
        for key in ("verdict", "family", "family_size"):
            if key in mine and mine[key] != theirs[key]:
                problems.append(f"{cid}: {key} {mine[key]!r} here, {theirs[key]!r} in claims.json")
        if mine.get("interval") and not np.allclose(mine["interval"], theirs["interval"], atol=1e-9):
            problems.append(f"{cid}: interval {mine['interval']} here, {theirs['interval']} in claims.json")
        if mine.get("seeds_and_images"):
            if theirs["seeds_and_images"] is None or not np.allclose(mine["seeds_and_images"],
                                                                     theirs["seeds_and_images"], atol=1e-9):
                problems.append(f"{cid}: seeds and images {mine['seeds_and_images']} here, "
                                f"{theirs['seeds_and_images']} in claims.json")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("experiments.toml"))
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--claims", type=Path, default=Path("build/current/claims.json"))
    args = parser.parse_args()
    ours = recompute(args.config, args.results)
    written = json.loads(args.claims.read_text(encoding="utf-8"))["claims"]
    for cid, c in ours.items():
        interval = c.get("interval")
        print(f"{cid:40} {c.get('family') or '—':22} Δ {100 * c['difference']:+7.3f}" if c.get("difference") is not None
              else f"{cid:40} {c.get('family') or '—':22} Δ       —", end="")
        print(f"  [{100 * interval[0]:+.3f}, {100 * interval[1]:+.3f}]" if interval else "", end="")
        print(f"  p {c['p']:.4g} adj {c['adjusted_p']:.4g}" if c.get("p") is not None else "", end="")
        si = c.get("seeds_and_images")
        print(f"  seeds+images [{100 * si[0]:+.2f}, {100 * si[1]:+.2f}]" if si else "", end="")
        print(f"  {c['verdict']}")
    problems = compare(ours, written)
    print("\n".join(problems) if problems else f"all {len(ours)} recomputed claims match claims.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
