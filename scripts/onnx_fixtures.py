"""Makes the ONNX test fixtures: two scikit-learn models exported with
skl2onnx, the rows they are scored on, and onnxruntime's answers, which the
Rust tests must match to 1e-5. Run once, on purpose, and commit the outputs:

    python3 -m venv /tmp/onnx-venv
    /tmp/onnx-venv/bin/pip install scikit-learn skl2onnx onnxruntime numpy
    /tmp/onnx-venv/bin/python scripts/onnx_fixtures.py crates/models/tests/fixtures/onnx
"""

import csv
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

FEATURES = ["f0", "f1", "f2", "f3"]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261128)
    # float32 values, so that the f64 copies the feature store reads are exact.
    x = rng.normal(size=(400, len(FEATURES))).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3] > 0).astype(np.int64)
    models = {
        "logistic": LogisticRegression().fit(x, y),
        "forest": RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(x, y),
    }
    scored = x[:60]
    expected = {}
    for name, model in models.items():
        onnx_model = to_onnx(
            model,
            x[:1],
            options={"zipmap": False},
            target_opset={"": 17, "ai.onnx.ml": 1},
        )
        path = out / f"{name}.onnx"
        path.write_bytes(onnx_model.SerializeToString())
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        label, probabilities = session.run(None, {"X": scored})
        expected[name] = probabilities[:, 1]
    with open(out / "scored.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "ts", *FEATURES, "label", *[f"{n}_probability" for n in models]])
        for i, row in enumerate(scored):
            writer.writerow(
                [i, "2026-01-01T00:00:00Z"]
                + [repr(float(v)) for v in row]
                + [int(y[i])]
                + [repr(float(expected[n][i])) for n in models]
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
