"""The parsing process: ``python -m gongkai_spider.filetext.worker MEMORY_MB`` reads jobs from stdin and writes
one JSON line per job to stdout (see ``runner.py``, which starts, feeds and kills it).

A job is a JSON header line ``{"size": N, "name": ..., "content_type": ..., "limits": {...}}`` followed by N
bytes of file. The address-space limit makes a decompression bomb or a runaway parser fail with MemoryError
here instead of taking memory from the crawl; the runner's wall-clock limit handles the ones that loop.
"""

from __future__ import annotations

import json
import sys
import time


def _limit_memory(megabytes: int) -> None:
    if megabytes <= 0:
        return
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform: the wall-clock limit still holds
        pass


def main() -> int:
    _limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    from gongkai_spider.filetext.formats import Limits, extract

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = stdin.readline()
        if not header:
            return 0
        job = json.loads(header)
        data = stdin.read(job["size"])
        started = time.process_time()
        try:
            out = extract(data, job.get("name") or "", job.get("content_type") or "", Limits(**job["limits"]))
        except MemoryError:
            out = {"status": "failed:memory", "text": None, "text_truncated": False}
        except Exception as exc:  # formats.extract already turns file errors into a status
            out = {"status": f"failed:error:{type(exc).__name__}", "text": None, "text_truncated": False}
        del data
        out["cpu_ms"] = round((time.process_time() - started) * 1000, 2)
        stdout.write(json.dumps(out, ensure_ascii=False).encode("utf-8") + b"\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
