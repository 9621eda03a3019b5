"""A standard Open Inference Protocol client (Triton's tritonclient.http,
unmodified) against a running `sluice serve`: health, metadata, and an
inference with the client's defaults (binary tensors both ways) whose answer
must equal the same request's as client JSON and as plain JSON.

    sluice --project sluice-quickstart serve --port 8080 &
    python bench/kserve_client.py --url 127.0.0.1:8080 --model fraud
"""

import argparse
import json
import sys
import urllib.request

import numpy as np
import tritonclient.http as httpclient


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="127.0.0.1:8080")
    parser.add_argument("--model", default="fraud")
    parser.add_argument("--key", default="card_id")
    args = parser.parse_args()

    client = httpclient.InferenceServerClient(url=args.url)
    assert client.is_server_live(), "server not live"
    assert client.is_server_ready(), "server not ready"
    assert client.is_model_ready(args.model), "model not ready"
    metadata = client.get_model_metadata(args.model)
    assert metadata["name"] == args.model, metadata
    assert metadata["inputs"][0]["name"] == args.key, metadata
    assert metadata["outputs"][0]["name"] == "prediction", metadata

    # Every input the metadata lists (the keys, then request-time values such
    # as a transaction's amount), with values of its datatype.
    rows = 5
    samples = {
        "INT64": np.array([1, 2, 3, 5, 8], dtype=np.int64),
        "INT32": np.array([1, 2, 3, 5, 8], dtype=np.int32),
        "FP64": np.array([25.0, 980.0, 3.5, 120.0, 60.0]),
        "FP32": np.array([25.0, 980.0, 3.5, 120.0, 60.0], dtype=np.float32),
        "BOOL": np.array([True, False, True, False, True]),
        "BYTES": np.array([b"x"] * rows, dtype=object),
    }
    inputs, json_inputs, plain_inputs = [], [], []
    for spec in metadata["inputs"]:
        values = samples[spec["datatype"]]
        # The client's defaults: binary tensors (the binary data extension) ...
        tensor = httpclient.InferInput(spec["name"], [rows], spec["datatype"])
        tensor.set_data_from_numpy(values)
        inputs.append(tensor)
        # ... and the same values as JSON.
        tensor = httpclient.InferInput(spec["name"], [rows], spec["datatype"])
        tensor.set_data_from_numpy(values, binary_data=False)
        json_inputs.append(tensor)
        data = [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]
        plain_inputs.append({"name": spec["name"], "shape": [rows], "datatype": spec["datatype"], "data": data})
    result = client.infer(args.model, inputs=inputs)
    predictions = result.as_numpy("prediction")
    assert predictions.shape == (rows,), predictions.shape
    output = httpclient.InferRequestedOutput("prediction", binary_data=False)
    as_json = client.infer(args.model, inputs=json_inputs, outputs=[output]).as_numpy("prediction")
    assert np.array_equal(predictions, as_json), (predictions, as_json)

    body = json.dumps({"inputs": plain_inputs})
    request = urllib.request.Request(
        f"http://{args.url}/v2/models/{args.model}/infer", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        plain = json.load(response)["outputs"][0]["data"]
    assert np.array_equal(predictions, np.array(plain)), (predictions, plain)
    print(f"tritonclient {httpclient.__name__}: live, ready, metadata, binary and JSON infer OK; predictions {predictions.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
