"""Tracked training on scikit-learn's diabetes data (ships with scikit-learn: no download).

Three runs of an SGD regressor with different regularization, each logging its
params, a per-epoch learning curve, a final score and the fitted model, then the
runs compared with ``mj.runs()``. Run from this folder (its ``.mlops/`` makes it
the project):

    python track_diabetes.py && mlops-jupyter runs ls
"""

import pickle
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import SGDRegressor
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import mlops_jupyter as mj

EPOCHS = 40
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)


def rmse(model, X, y) -> float:
    return float(np.sqrt(mean_squared_error(y, model.predict(X))))


for alpha in (1e-4, 1e-2, 1.0):
    with mj.start_run(experiment="diabetes-sgd", stage="train") as run:
        mj.log_params({"alpha": alpha, "epochs": EPOCHS, "eta0": 0.01, "seed": 0})
        model = SGDRegressor(alpha=alpha, eta0=0.01, random_state=0)
        for epoch in range(EPOCHS):
            model.partial_fit(X_train, y_train)
            mj.log_metric("train_rmse", rmse(model, X_train, y_train), step=epoch)
            mj.log_metric("test_rmse", rmse(model, X_test, y_test), step=epoch)
        mj.log_metric("test_r2", r2_score(y_test, model.predict(X_test)))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.pkl"
            path.write_bytes(pickle.dumps(model))
            mj.log_artifact(path)
        print(f"run {run.run_id[:8]}: alpha={alpha:g} test_rmse={rmse(model, X_test, y_test):.2f}")

best = mj.runs(experiment="diabetes-sgd", order_by="metrics.test_rmse", max_results=3)
print(best[["run_id", "params.alpha", "metrics.test_rmse", "metrics.test_r2"]].to_string(index=False))
