"""A standard Open Inference Protocol client (Triton's tritonclient.http,
unmodified) against a running `sluice serve`: health, metadata, and an
inference whose answer must equal the one the same request gets as plain JSON.

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

    keys = np.array([1, 2, 3, 5, 8], dtype=np.int64)
    tensor = httpclient.InferInput(args.key, list(keys.shape), "INT64")
    tensor.set_data_from_numpy(keys, binary_data=False)
    output = httpclient.InferRequestedOutput("prediction", binary_data=False)
    result = client.infer(args.model, inputs=[tensor], outputs=[output])
    predictions = result.as_numpy("prediction")
    assert predictions.shape == keys.shape, predictions.shape

    body = json.dumps({"inputs": [{"name": args.key, "shape": [len(keys)], "datatype": "INT64", "data": keys.tolist()}]})
    request = urllib.request.Request(
        f"http://{args.url}/v2/models/{args.model}/infer", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        plain = json.load(response)["outputs"][0]["data"]
    assert np.array_equal(predictions, np.array(plain)), (predictions, plain)
    print(f"tritonclient {httpclient.__name__}: live, ready, metadata and infer OK; predictions {predictions.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
