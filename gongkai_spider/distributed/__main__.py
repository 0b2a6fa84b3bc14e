"""Look at or reset a site's shared crawl in Redis (docs/SCALING.md).

  python3 -m gongkai_spider.distributed status --site mof     # queued requests, busy workers, pages seen
  python3 -m gongkai_spider.distributed reset --site mof      # delete the crawl's keys (stop its workers first)

Redis comes from ``--redis-url`` or ``REDIS_URL``; the key prefix from ``GONGKAI_REDIS_KEY_PREFIX`` (default
``gongkai:%(site)s``), as for the workers.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m gongkai_spider.distributed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("action", choices=("status", "reset"))
    parser.add_argument("--site", required=True, help="site id (the -a site= of the workers)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""), help="default: $REDIS_URL")
    parser.add_argument("--spider", default="gongkai")
    args = parser.parse_args(argv)
    if not args.redis_url:
        parser.error("no Redis: pass --redis-url or set REDIS_URL")

    import redis

    from gongkai_spider.distributed.redis_scheduler import DEFAULT_KEY_PREFIX, CrawlKeys

    template = os.environ.get("GONGKAI_REDIS_KEY_PREFIX") or DEFAULT_KEY_PREFIX
    prefix = template % {"site": args.site, "spider": args.spider}
    keys = CrawlKeys.for_prefix(prefix)
    server = redis.Redis.from_url(args.redis_url)
    if args.action == "reset":
        deleted = server.delete(*keys)
        print(f"{prefix}: deleted {deleted} keys")
        return 0
    now = float(server.time()[0])
    busy = server.zrange(keys.workers, 0, -1, withscores=True)
    print(f"crawl {prefix}")
    print(f"  queued requests: {server.zcard(keys.requests)}")
    print(f"  pages seen:      {server.scard(keys.dupefilter)}")
    print(f"  busy workers:    {len(busy)}")
    for member, score in busy:
        print(f"    {member.decode()}  last report {now - score:.0f} s ago")
    return 0


if __name__ == "__main__":
    sys.exit(main())
