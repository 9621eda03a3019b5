"""Python client for the Sluice feature store.

Talks to ``sluice serve``: Arrow Flight for rows, training data, batch
features and ingest; Flight SQL for queries; the HTTP routes for online
vectors and predictions::

    import sluice

    fs = sluice.connect("grpc://localhost:8815")
    rows = fs.feature_group("card_profile").read(limit=10)
    X_train, X_test, y_train, y_test = fs.feature_view("fraud").train_test_split(td=1)
"""

from .errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SluiceError,
    Unauthenticated,
    Unavailable,
)
from .feature_group import FeatureGroup
from .feature_view import FeatureView
from .store import DEFAULT_URI, FeatureStore, connect

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URI",
    "FeatureGroup",
    "FeatureStore",
    "FeatureView",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "SluiceError",
    "Unauthenticated",
    "Unavailable",
    "connect",
]
