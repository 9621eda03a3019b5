#!/usr/bin/env python3
"""Our GBDT against LightGBM and our logistic regression against
scikit-learn's, on the same seeded tabular data and the same split.

The data: N rows x 20 float features with a nonlinear, noisy label (about
20% positive). It goes through Sluice as users would send it (two feature
groups ingested from Parquet, a feature view, a training dataset with a
random 80/20 split); the Python models then read that training dataset's
own train and test files, so both sides see exactly the same rows.

Settings mirror each other: rounds, learning rate, depth (LightGBM gets
num_leaves = 2^depth - 1), minimum leaf size, L2, 255 bins. Our GBDT holds
out every tenth training row for early stopping; LightGBM is given the same
90% to fit, and early stopping is off on both sides (patience = rounds).
Sluice's time is its `train` command's own figure (reading the training
dataset, fitting, scoring the test split); the Python times are the fit
alone. Our trainers use one core, so LightGBM is timed with n_jobs=1 and,
for reference, with every core.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install lightgbm scikit-learn pyarrow numpy
    cargo build --release -p sluice-cli
    /tmp/venv/bin/python bench/compare_models.py [--rows 1000000] [--sluice target/release/sluice]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = 20
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, seconds

def keyed_group(name, columns):
    """A feature group keyed by `id` with event time `ts`, plus `columns` (TOML lines)."""
    return (f'[[feature_group]]\nname = "{name}"\nversion = 1\nprimary_key = ["id"]\nevent_time = "ts"\n'
            'columns = [\n  { name = "id", type = "int64" },\n  { name = "ts", type = "timestamp" },\n'
            + "".join(f"  {c}\n" for c in columns) + "]\n")


DEFINITIONS = (
    keyed_group("bench_features", [f'{{ name = "f{j}", type = "float64" }},' for j in range(FEATURES)])
    + "\n"
    + keyed_group("bench_labels", ['{ name = "label", type = "bool" },'])
    + """
[[feature_view]]
name = "bench"
version = 1
spine = "bench_labels:1"
labels = ["label"]
joins = [{ feature_group = "bench_features:1", on = ["id"] }]
"""
)


def generate(rows, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES))
    x[:, 10:15] = rng.uniform(-2, 2, (rows, 5))
    logit = (
        1.2 * x[:, 0]
        - 0.8 * x[:, 1]
        + 0.6 * x[:, 2] * x[:, 3]
        + np.sin(2 * x[:, 4])
        + 0.9 * (x[:, 5] > 0.5)
        - 0.5 * x[:, 6] ** 2
        + 0.4 * np.abs(x[:, 10])
        + 0.3 * x[:, 11] * (x[:, 12] > 0)
        - 1.6
        + rng.logistic(0, 1, rows) * 0.8
    )
    return x, logit > 0


def write_inputs(folder, x, y):
    ids = pa.array(np.arange(len(y), dtype=np.int64))
    ts = pa.array((T0 + np.arange(len(y), dtype=np.int64)) * 1_000_000, type=pa.timestamp("us", tz="UTC"))
    columns = {"id": ids, "ts": ts}
    for j in range(FEATURES):
        columns[f"f{j}"] = pa.array(x[:, j])
    pq.write_table(pa.table(columns), os.path.join(folder, "features.parquet"))
    # Labels a second after the features, so the point-in-time join sees them.
    label_ts = pa.array((T0 + 1 + np.arange(len(y), dtype=np.int64)) * 1_000_000, type=pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"id": ids, "ts": label_ts, "label": pa.array(y)}), os.path.join(folder, "labels.parquet"))


def sluice(binary, project, *args):
    out = subprocess.run([binary, "--project", project, *args], check=True, capture_output=True, text=True)
    return out.stdout


def auc(scores, labels):
    from sklearn.metrics import roc_auc_score
    return roc_auc_score(labels, scores)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--sluice", default="target/release/sluice")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import lightgbm
    from sklearn.linear_model import LogisticRegression

    work = tempfile.mkdtemp(prefix="sluice-compare-")
    project = os.path.join(work, "project")
    x, y = generate(args.rows, seed=7)
    os.makedirs(project)
    subprocess.run([args.sluice, "init", project], check=True, capture_output=True)
    os.remove(os.path.join(project, "features", "example.toml"))
    with open(os.path.join(project, "features", "bench.toml"), "w") as f:
        f.write(DEFINITIONS)
    write_inputs(work, x, y)
    sluice(args.sluice, project, "apply")
    sluice(args.sluice, project, "ingest", "bench_features", os.path.join(work, "features.parquet"))
    sluice(args.sluice, project, "ingest", "bench_labels", os.path.join(work, "labels.parquet"))
    td = json.loads(sluice(args.sluice, project, "training-data", "create", "bench", "--split", "random:0.8:42", "--json"))
    version = td["version"]
    td_dir = os.path.join(project, ".sluice", "training_datasets", "bench_v1", f"td{version}")
    train = pq.read_table(os.path.join(td_dir, "train.parquet"))
    test = pq.read_table(os.path.join(td_dir, "test.parquet"))
    names = [f"f{j}" for j in range(FEATURES)]
    x_train = np.column_stack([train[n].to_numpy() for n in names])
    y_train = train["label"].to_numpy().astype(np.float64)
    x_test = np.column_stack([test[n].to_numpy() for n in names])
    y_test = test["label"].to_numpy().astype(np.float64)

    gbdt_params = [
        f"rounds={args.rounds}", f"learning_rate={args.learning_rate}", f"max_depth={args.depth}",
        "min_samples_leaf=20", "l2=1.0", "max_bins=255", f"early_stopping_rounds={args.rounds}",
    ]
    started = time.time()
    ours_gbdt = json.loads(sluice(args.sluice, project, "train", "bench", "--td", str(version),
                                  "--algorithm", "gbdt_classifier", "--model", "bench_gbdt", "--json",
                                  *sum((["--param", p] for p in gbdt_params), [])))
    ours_gbdt_wall = time.time() - started
    started = time.time()
    ours_lr = json.loads(sluice(args.sluice, project, "train", "bench", "--td", str(version),
                                "--algorithm", "logistic_regression", "--param", "l2=1.0",
                                "--model", "bench_lr", "--json"))
    ours_lr_wall = time.time() - started

    # The rows our GBDT fits on: all but every tenth training row.
    fit = np.arange(len(y_train)) % 10 != 9
    results = {}
    for jobs in (1, os.cpu_count()):
        model = lightgbm.LGBMClassifier(
            n_estimators=args.rounds, learning_rate=args.learning_rate, max_depth=args.depth,
            num_leaves=2 ** args.depth - 1, min_child_samples=20, reg_lambda=1.0, max_bin=255,
            n_jobs=jobs, verbose=-1, random_state=7)
        started = time.time()
        model.fit(x_train[fit], y_train[fit])
        results[f"lightgbm_{jobs}"] = (time.time() - started, auc(model.predict_proba(x_test)[:, 1], y_test))
    started = time.time()
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(x_train, y_train)
    results["sklearn_lr"] = (time.time() - started, auc(lr.predict_proba(x_test)[:, 1], y_test))

    report = {
        "rows": args.rows, "train_rows": len(y_train), "test_rows": len(y_test), "positive_rate": float(y.mean()),
        "gbdt": {
            "sluice": {"auc": ours_gbdt["metrics"]["roc_auc"], "train_s": ours_gbdt["elapsed_ms"] / 1000, "command_s": ours_gbdt_wall, "rounds": ours_gbdt.get("rounds")},
            "lightgbm_1_thread": {"auc": results["lightgbm_1"][1], "train_s": results["lightgbm_1"][0]},
            f"lightgbm_{os.cpu_count()}_threads": {"auc": results[f"lightgbm_{os.cpu_count()}"][1], "train_s": results[f"lightgbm_{os.cpu_count()}"][0]},
        },
        "logistic_regression": {
            "sluice": {"auc": ours_lr["metrics"]["roc_auc"], "train_s": ours_lr["elapsed_ms"] / 1000, "command_s": ours_lr_wall},
            "sklearn": {"auc": results["sklearn_lr"][1], "train_s": results["sklearn_lr"][0]},
        },
    }
    gbdt, lin = report["gbdt"], report["logistic_regression"]
    report["gbdt_auc_difference"] = gbdt["sluice"]["auc"] - gbdt["lightgbm_1_thread"]["auc"]
    report["gbdt_time_ratio_vs_lightgbm_1_thread"] = gbdt["sluice"]["train_s"] / gbdt["lightgbm_1_thread"]["train_s"]
    report["lr_auc_difference"] = lin["sluice"]["auc"] - lin["sklearn"]["auc"]
    report["lr_time_ratio_vs_sklearn"] = lin["sluice"]["train_s"] / lin["sklearn"]["train_s"]
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.rows} rows x {FEATURES} features, {report['positive_rate']:.1%} positive; "
          f"train {len(y_train)}, test {len(y_test)} (Sluice's random:0.8:42 split)")
    print(f"{'model':<34}{'test ROC AUC':>14}{'train s':>10}")
    for label, row in [("Sluice GBDT (1 core)", gbdt["sluice"]), ("LightGBM, n_jobs=1", gbdt["lightgbm_1_thread"]),
                       (f"LightGBM, n_jobs={os.cpu_count()}", gbdt[f"lightgbm_{os.cpu_count()}_threads"]),
                       ("Sluice logistic regression", lin["sluice"]), ("scikit-learn LogisticRegression", lin["sklearn"])]:
        print(f"{label:<34}{row['auc']:>14.4f}{row['train_s']:>10.2f}")
    print(f"GBDT: AUC difference {report['gbdt_auc_difference']:+.4f} (goal within 0.01), "
          f"time {report['gbdt_time_ratio_vs_lightgbm_1_thread']:.2f}x LightGBM's (1 thread)")
    print(f"LR:   AUC difference {report['lr_auc_difference']:+.4f} (goal within 0.005), "
          f"time {report['lr_time_ratio_vs_sklearn']:.2f}x scikit-learn's")


if __name__ == "__main__":
    sys.exit(main())
