#!/usr/bin/env python3
"""Regenerates known_answers.json with scikit-learn: transformations fitted
on a training column and applied to a test column, and metrics of random
predictions. Run only on purpose (pip install scikit-learn numpy)."""
import json
import numpy as np
from sklearn import metrics, preprocessing

rng = np.random.default_rng(20261128)
train = np.round(rng.gamma(2.0, 30.0, 200), 3)
test = np.concatenate([np.round(rng.gamma(2.0, 30.0, 40), 3), [0.0, train.max() * 2]])
cats_train = rng.choice(["grocery", "fuel", "travel", "online"], 200).tolist()
cats_test = rng.choice(["grocery", "fuel", "travel", "online", "casino"], 30).tolist()

def fit_apply(scaler):
    scaler.fit(train.reshape(-1, 1))
    return scaler.transform(test.reshape(-1, 1)).ravel().tolist()

known = sorted(set(cats_train))
onehot = preprocessing.OneHotEncoder(categories=[known], handle_unknown="ignore").fit(np.array(cats_train).reshape(-1, 1))
labels = rng.random(300) < 0.3
scores = np.clip(np.where(labels, rng.normal(0.6, 0.2, 300), rng.normal(0.4, 0.2, 300)), 0.0, 1.0)
scores[:20] = 0.5  # ties
y = rng.normal(10.0, 3.0, 150)
pred = y + rng.normal(0.0, 1.0, 150)
out = {
    "train": train.tolist(),
    "test": test.tolist(),
    "standard_scaler": fit_apply(preprocessing.StandardScaler()),
    "min_max_scaler": fit_apply(preprocessing.MinMaxScaler()),
    "robust_scaler": fit_apply(preprocessing.RobustScaler()),
    "log1p": np.log1p(test).tolist(),
    "categories_train": cats_train,
    "categories_test": cats_test,
    "label_encoder": [known.index(c) if c in known else -1 for c in cats_test],
    "one_hot_names": [f"merchant={c}" for c in known],
    "one_hot_encoder": onehot.transform(np.array(cats_test).reshape(-1, 1)).toarray().tolist(),
    "labels": labels.tolist(),
    "scores": scores.tolist(),
    "roc_auc": metrics.roc_auc_score(labels, scores),
    "log_loss": metrics.log_loss(labels, scores),
    "accuracy": metrics.accuracy_score(labels, scores >= 0.5),
    "precision": metrics.precision_score(labels, scores >= 0.5),
    "recall": metrics.recall_score(labels, scores >= 0.5),
    "f1": metrics.f1_score(labels, scores >= 0.5),
    "y": y.tolist(),
    "pred": pred.tolist(),
    "rmse": float(np.sqrt(metrics.mean_squared_error(y, pred))),
    "mae": metrics.mean_absolute_error(y, pred),
    "r2": metrics.r2_score(y, pred),
}
with open(__file__.replace("make.py", "known_answers.json"), "w") as f:
    json.dump(out, f, indent=1)

# Linear models: scikit-learn's exact solvers on a small regression and classification problem.
from sklearn.linear_model import LogisticRegression, Ridge
X = rng.normal(0.0, 1.0, (300, 4))
true_w = np.array([1.5, -2.0, 0.0, 0.7])
y_reg = X @ true_w + 3.0 + rng.normal(0.0, 0.5, 300)
y_cls = (rng.random(300) < 1.0 / (1.0 + np.exp(-(X @ true_w - 0.5)))).astype(float)
ridge = Ridge(alpha=2.0).fit(X, y_reg)
logistic = LogisticRegression(C=1.0 / 2.0, tol=1e-12, max_iter=10000).fit(X, y_cls)
out.update({
    "X": X.tolist(),
    "y_regression": y_reg.tolist(),
    "y_classification": y_cls.tolist(),
    "ridge_weights": ridge.coef_.tolist(),
    "ridge_intercept": float(ridge.intercept_),
    "logistic_weights": logistic.coef_[0].tolist(),
    "logistic_intercept": float(logistic.intercept_[0]),
})
with open(__file__.replace("make.py", "known_answers.json"), "w") as f:
    json.dump(out, f, indent=1)
