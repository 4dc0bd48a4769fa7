"""Runs a command and prints its wall time and resource usage as one JSON line (for dd in the benchmark suite):
Node's child_process reports no rusage, wait4(2) does. Usage: rusage.py COMMAND [ARGS...]"""
import json
import os
import sys
import time

started = time.perf_counter()
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.dup2(write_end, 2)
    os.execvp(sys.argv[1], sys.argv[1:])
os.close(write_end)
with os.fdopen(read_end) as err:
    stderr = err.read()
_, status, usage = os.wait4(pid, 0)
print(json.dumps({
    "code": os.waitstatus_to_exitcode(status),
    "wallMs": (time.perf_counter() - started) * 1000,
    "userMs": usage.ru_utime * 1000,
    "sysMs": usage.ru_stime * 1000,
    "peakRssBytes": usage.ru_maxrss * 1024,
    "stderr": stderr,
}))
