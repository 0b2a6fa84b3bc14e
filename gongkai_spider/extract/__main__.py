"""``python -m gongkai_spider.extract FILE [--url URL]``: print the raw ``extract_detail`` result as JSON.

The raw result is what the spider hands to the pipelines, before any cleaning; it is what the scoring
corpus measures (``score.py --cmd 'python3 -m gongkai_spider.extract {path}'``). For the cleaned document
use ``gongkai extract``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gongkai_spider.extract", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="saved HTML page (bytes in the page's own encoding)")
    parser.add_argument("--url", help="URL the page was fetched from (default: file:// URL of FILE)")
    parser.add_argument("--encoding", help="encoding declared by the HTTP header, if known")
    parser.add_argument("--status", type=int, default=200, help="HTTP status of the response (default 200)")
    args = parser.parse_args(argv)

    from . import extract_detail

    path = Path(args.file)
    try:
        body = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    url = args.url or path.resolve().as_uri()
    result = extract_detail(body, url, encoding=args.encoding, status=args.status)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
