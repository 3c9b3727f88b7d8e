"""The peer side of bench/peer.ts's PeerProcess: after set-up, answer {"steps": n} lines
with {"step_ms": [...], "faults"} (n timed calls of `step`, and the minor page faults they took), until stdin closes; then print the
process's peak RSS (VmHWM) as the last line."""
import json
import resource
import sys
import time


def vm_hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def serve(step, ready=None):
    print(json.dumps({"ready": True, **(ready or {})}), flush=True)
    for line in sys.stdin:
        n = json.loads(line)["steps"]
        times = []
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(n):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        print(json.dumps({"step_ms": times, "faults": faults}), flush=True)
    print(json.dumps({"peak_rss_mb": vm_hwm_mb()}), flush=True)
