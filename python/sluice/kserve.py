"""Open Inference Protocol (KServe v2) requests and answers for
``POST /v2/models/NAME[/versions/V]/infer``."""

from __future__ import annotations

from typing import Any, Dict, List

import pyarrow as pa

_DATATYPES = {
    pa.int64(): "INT64",
    pa.int32(): "INT32",
    pa.float64(): "FP64",
    pa.float32(): "FP32",
    pa.bool_(): "BOOL",
    pa.string(): "BYTES",
    pa.large_string(): "BYTES",
}


def datatype(arrow_type: pa.DataType) -> str:
    """The protocol's datatype name for an Arrow column type."""
    try:
        return _DATATYPES[arrow_type]
    except KeyError:
        raise TypeError(
            f"cannot send a {arrow_type} column to the inference route "
            "(int32, int64, float32, float64, bool or string)"
        ) from None


def infer_request(inputs: pa.Table) -> Dict[str, Any]:
    """The JSON body: one input tensor per column, one value per row."""
    tensors: List[Dict[str, Any]] = []
    for name, column in zip(inputs.column_names, inputs.columns):
        tensors.append(
            {
                "name": name,
                "shape": [len(column)],
                "datatype": datatype(column.type),
                "data": column.to_pylist(),
            }
        )
    return {"inputs": tensors}


def predictions(answer: Dict[str, Any]) -> List[Any]:
    """The ``prediction`` output's values (nulls where the server had no finite value)."""
    for output in answer.get("outputs", []):
        if output.get("name") == "prediction":
            return list(output.get("data", []))
    raise ValueError(f"the inference answer has no 'prediction' output: {answer}")
