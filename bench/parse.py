"""Benchmark: what reading apply files as hostile costs over a plain parse.

A dump of N servers (``bench/apply.py``'s, two ports each) as JSON and as YAML is parsed by
``guestmeta.apply.safe_load.parse_text`` (duplicate-key hooks, depth bound, the walk of
the tree) and by a plain ``json.loads`` / libyaml safe load, the baseline. The last line
is one JSON object.

    .venv/bin/python bench/parse.py [--servers N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.apply import dump

from guestmeta.apply.safe_load import parse_text


def timed(func: object, *args: object) -> float:
    started = time.perf_counter()
    func(*args)  # type: ignore[operator]
    return round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=10_000)
    args = parser.parse_args()
    body, _ = dump(args.servers)
    texts = {"json": json.dumps(body), "yaml": yaml.safe_dump(body)}
    plain = {
        "json": lambda t: json.loads(t),
        "yaml": lambda t: yaml.load(t, Loader=yaml.CSafeLoader),
    }
    results: dict[str, object] = {"servers": args.servers}
    print(f"{'':6}{'MB':>8}{'hardened s':>12}{'plain s':>10}")
    for kind, text in texts.items():
        hardened = timed(parse_text, f"dump.{kind}", text)
        baseline = timed(plain[kind], text)
        results[kind] = {
            "mb": round(len(text) / 1e6, 1),
            "hardened_s": hardened,
            "plain_s": baseline,
        }
        print(f"{kind:6}{len(text) / 1e6:>8.1f}{hardened:>12}{baseline:>10}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
