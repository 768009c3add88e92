"""One HTTP request, for a test that must send it from inside a network namespace.

Run as ``ip netns exec NS python3 http_request.py JSON``, where JSON holds ``host``,
``port``, ``method``, ``path`` and optionally ``headers``, ``source`` (the address to
send from), ``body`` and ``timeout`` (seconds, default 10). Prints ``{"status",
"headers", "body"}`` as JSON (body in latin-1, so any bytes survive); a connection that
fails prints ``{"error": ...}``.
Standard library only: it runs under any Python the namespace can execute.
"""

import http.client
import json
import sys


def main() -> None:
    ask = json.loads(sys.argv[1])
    source = ask.get("source")
    conn = http.client.HTTPConnection(
        ask["host"],
        ask["port"],
        timeout=ask.get("timeout", 10),
        source_address=(source, 0) if source else None,
    )
    try:
        body = ask.get("body")
        conn.request(
            ask.get("method", "GET"),
            ask["path"],
            body=body.encode("latin-1") if body is not None else None,
            headers=ask.get("headers") or {},
        )
        response = conn.getresponse()
        data = response.read()
        answer = {
            "status": response.status,
            "headers": {k.lower(): v for k, v in response.getheaders()},
            "body": data.decode("latin-1"),
        }
    except OSError as exc:
        answer = {"error": str(exc)}
    finally:
        conn.close()
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
