"""One benchmark cell run by the s3dlio Python wheel, for the @range benchmark suite (benchmarks/src/lib/external.ts).

Protocol, one JSON object per line: the job on stdin, answered with {"ready": true}; then each {"warm": bool} line
runs one round of the operation and is answered with {"warm": true} or {"sample": ...}: wall ms, bytes, per-operation
latencies, CPU time (all threads), peak RSS (reset per round through /proc/self/clear_refs), and requests when the
server exposes counters. The parent runs the rounds of every contender in rotation. A warm-up round checks the bytes:
a whole object against the SHA-256 of what was written, a range against the same slice of the whole object, a put by
reading it back, a listing by its count. A mismatch exits with status 3.
"""
import hashlib
import json
import os
import resource
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import s3dlio


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def server_requests(url, bucket):
    if not url:
        return None
    total = 0
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("SeaweedFS_s3_request_total{") and f'bucket="{bucket}"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


def wrong(message):
    sys.stderr.write(f"WRONG BYTES: {message}\n")
    sys.exit(3)


def as_bytes(data):
    return data if isinstance(data, (bytes, bytearray)) else bytes(memoryview(data))


def run_round(job, warm, state):
    op = job["op"]
    ops = max(1, int(job.get("ops", 1)))
    latencies = []
    moved = 0
    if op == "get":
        for i in range(ops):
            t = time.perf_counter()
            data = s3dlio.get(job["uri"])
            # One byte per 4 KiB page, timed: a view over a mapping would otherwise be counted as read unread.
            sum(memoryview(data)[::4096])
            latencies.append((time.perf_counter() - t) * 1000)
            moved += len(data)
            if warm and i == 0 and hashlib.sha256(as_bytes(data)).hexdigest() != job["sha256"]:
                wrong(f"s3dlio.get({job['uri']}) returned other bytes than were written")
            del data
    elif op == "range":
        ranges = job["ranges"]
        whole = None
        if warm:
            whole = as_bytes(s3dlio.get(job["uri"]))
            if hashlib.sha256(whole).hexdigest() != job["sha256"]:
                wrong(f"s3dlio.get({job['uri']}) returned other bytes than were written")

        def one(r):
            t = time.perf_counter()
            data = s3dlio.get_range(job["uri"], r[0], r[1])
            ms = (time.perf_counter() - t) * 1000
            if whole is not None and as_bytes(data) != whole[r[0] : r[0] + r[1]]:
                wrong(f"s3dlio.get_range({r[0]}, {r[1]}) differs from the same slice of the object")
            return ms, len(data)

        with ThreadPoolExecutor(max_workers=job.get("concurrency", 1)) as pool:
            for ms, n in pool.map(one, ranges):
                latencies.append(ms)
                moved += n
        ops = len(ranges)
    elif op == "put":
        payload = state["payload"]
        for i in range(ops):
            uri = f"{job['uriPrefix']}s3dlio-{i}.bin"
            t = time.perf_counter()
            s3dlio.put_bytes(uri, payload)
            latencies.append((time.perf_counter() - t) * 1000)
            moved += len(payload)
            if warm and i == 0:
                back = as_bytes(s3dlio.get(uri))
                if hashlib.sha256(back).hexdigest() != state["payload_sha256"]:
                    wrong(f"{uri} read back differs from what s3dlio.put_bytes wrote")
    elif op == "list":
        for _ in range(ops):
            t = time.perf_counter()
            n = len(s3dlio.list(job["uri"], recursive=True))
            latencies.append((time.perf_counter() - t) * 1000)
            if n != job["expected"]:
                wrong(f"s3dlio.list({job['uri']}) returned {n} objects, expected {job['expected']}")
    else:
        raise SystemExit(f"unknown op {op}")
    return moved, ops, latencies


def main():
    job = json.loads(sys.stdin.readline())
    if job.get("endpoint"):
        s3dlio.configure_s3(endpoint_url=job["endpoint"], region=job.get("region"))
    state = {}
    if job["op"] == "put":
        state["payload"] = os.urandom(job["size"])
        state["payload_sha256"] = hashlib.sha256(state["payload"]).hexdigest()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        warm = json.loads(line)["warm"]
        requests_before = server_requests(job.get("metricsUrl"), job.get("bucket"))
        reset_peak_rss()
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        moved, ops, latencies = run_round(job, warm, state)
        ms = (time.perf_counter() - started) * 1000
        usage = resource.getrusage(resource.RUSAGE_SELF)
        peak = peak_rss_bytes()
        requests_after = server_requests(job.get("metricsUrl"), job.get("bucket"))
        if warm:
            print(json.dumps({"warm": True}), flush=True)
            continue
        sample = {
            "ms": ms,
            "bytes": moved,
            "ops": ops,
            "latencies": latencies,
            "userMs": (usage.ru_utime - usage_before.ru_utime) * 1000,
            "sysMs": (usage.ru_stime - usage_before.ru_stime) * 1000,
            "peakRssBytes": peak,
        }
        if requests_before is not None and requests_after is not None:
            sample["requests"] = requests_after - requests_before
        print(json.dumps({"sample": sample}), flush=True)


main()
