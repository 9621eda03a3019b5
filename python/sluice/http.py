"""JSON over HTTP to the server's routes (predictions, online vectors), with
the standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional

from .errors import Unavailable, from_http


def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    api_key: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Any:
    """POSTs ``body`` as JSON and returns the decoded answer; an error answer
    raises the matching :class:`~sluice.SluiceError`."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise from_http(error.code, error.read()) from error
    except urllib.error.URLError as error:
        raise Unavailable(f"cannot reach {url}: {error.reason}") from error
