"""The official Python client (lightstreamer-client-lib, installed in interop/python/.venv
by interop/setup.sh) as a contender of `tlcp-bench compare`.

Same command line, phases, per-update work and JSON line as every other contender: see
crates/tlcp-bench/src/measure.rs (the reference) and keep them in step.

  interop/python/.venv/bin/python bench/python/contender.py --url URL
      --scenario throughput|latency|scale|recovery [--mode merge|distinct] [--items N]
      [--warmup S] [--duration S] [--timeout S]

The library calls the listener from its own thread; the main thread only sleeps through
the phases, so it opens the window and reports (the counters are read under the GIL).
"""

import json
import math
import os
import sys
import threading
import time

from lightstreamer.client import (
    ClientListener,
    LightstreamerClient,
    Subscription,
    SubscriptionListener,
)

NAME = "official-python"
FIELDS = ["ts", "seq", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"]


def parse_args(argv):
    a = {"url": "", "scenario": "throughput", "distinct": False, "items": 1,
         "warmup": 1.0, "duration": 5.0, "timeout": 30.0}
    for i in range(0, len(argv), 2):
        flag, v = argv[i], argv[i + 1]
        if flag == "--url":
            a["url"] = v
        elif flag == "--scenario":
            a["scenario"] = v
        elif flag == "--mode":
            a["distinct"] = v.lower() == "distinct"
        elif flag == "--items":
            a["items"] = int(v)
        elif flag in ("--warmup", "--duration", "--timeout"):
            a[flag[2:]] = float(v)
        else:
            raise SystemExit("unknown option " + flag)
    if not a["url"]:
        raise SystemExit("--url is required")
    return a


ARGS = parse_args(sys.argv[1:])
MODE = "DISTINCT" if ARGS["distinct"] else "MERGE"


def cpu_seconds():
    with open("/proc/self/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def memory_kb():
    hwm = rss = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return hwm, rss


def finish(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    os._exit(0)


client = LightstreamerClient(ARGS["url"], "DEMO")
client.connectionOptions.setForcedTransport("WS-STREAMING")
statuses = []


class StatusListener(ClientListener):
    def onStatusChange(self, status):
        if len(statuses) < 200:
            statuses.append(status)

    def onServerError(self, code, message):
        statuses.append("server error %s %s" % (code, message))


client.addListener(StatusListener())


def status_summary():
    counts = {}
    for s in list(statuses):
        counts[s] = counts.get(s, 0) + 1
    return "status changes: " + "; ".join("%dx %s" % (n, s) for s, n in counts.items())


class Flow(SubscriptionListener):
    def __init__(self):
        self.total = 0
        self.checksum = 0
        self.lost = 0
        self.dup = 0
        self.malformed = 0
        self.last_seq = [0] * ARGS["items"]
        self.latencies = []
        self.arrivals = []
        self.in_window = False
        self.latency = ARGS["scenario"] == "latency"
        self.recovery = ARGS["scenario"] == "recovery"
        self.notes = ""

    def onItemUpdate(self, u):
        ts = seq = None
        checksum = 0
        for p in range(1, 11):
            v = u.getValue(p)
            s = "" if v is None else v
            checksum += len(s)
            if p == 1:
                ts = s
            elif p == 2:
                seq = s
        self.checksum += checksum
        self.total += 1
        try:
            ts = int(ts)
            seq = int(seq)
        except ValueError:
            self.malformed += 1
            return
        i = u.getItemPos() - 1
        last = self.last_seq[i]
        if last == 0 or seq == last + 1:
            self.last_seq[i] = seq
        elif seq > last:
            self.lost += seq - last - 1
            self.last_seq[i] = seq
        else:
            self.dup += 1
        if self.latency and self.in_window:
            self.latencies.append(time.time_ns() - ts)
        elif self.recovery:
            self.arrivals.append(time.time_ns() // 1000)

    def onSubscriptionError(self, code, message):
        self.notes += "subscription error %s %s; " % (code, message)

    def onItemLostUpdates(self, itemName, itemPos, lostUpdates):
        self.notes += "the library reported %s lost updates; " % lostUpdates


def flow():
    listener = Flow()
    sub = Subscription(MODE, ["bench%d" % (i + 1) for i in range(ARGS["items"])], FIELDS)
    sub.setDataAdapter("FEED")
    sub.setRequestedSnapshot("no")
    sub.addListener(listener)
    start = time.monotonic()
    client.subscribe(sub)
    time.sleep(ARGS["warmup"])
    listener.in_window = True
    w_total, w_cpu, w_at = listener.total, cpu_seconds(), time.monotonic()
    time.sleep(ARGS["duration"])
    total, now, cpu = listener.total, time.monotonic(), cpu_seconds()
    hwm, rss = memory_kb()
    out = {
        "contender": NAME, "scenario": ARGS["scenario"], "mode": MODE, "ok": True,
        "updates": total - w_total, "seconds": now - w_at, "cpu_s": cpu - w_cpu,
        "hwm_kb": hwm, "rss_kb": rss, "total_updates": total, "lost": listener.lost,
        "dup": listener.dup, "malformed": listener.malformed, "checksum": listener.checksum,
        "since_start_s": now - start, "end_us": time.time_ns() // 1000,
        "notes": listener.notes + status_summary(),
    }
    if listener.latency:
        v = sorted(listener.latencies)

        def pct(p):
            if not v:
                return None
            i = min(max(math.ceil(p * len(v)), 1), len(v)) - 1
            return round(v[i] / 1000.0, 1)

        out["lat_us"] = {"n": len(v), "p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999),
                         "max": pct(1.0)}
    if listener.recovery:
        out["arrivals_us"] = list(listener.arrivals)
    finish(out)


class Eos(SubscriptionListener):
    def __init__(self, state):
        self.state = state

    def onEndOfSnapshot(self, itemName, itemPos):
        with self.state["lock"]:
            self.state["done"] += 1
            if self.state["done"] == ARGS["items"]:
                self.state["all"].set()

    def onSubscriptionError(self, code, message):
        self.state["error"] = self.state["error"] or "subscription error %s %s" % (code, message)


def scale():
    state = {"lock": threading.Lock(), "done": 0, "all": threading.Event(), "error": None}
    start = time.monotonic()
    for i in range(1, ARGS["items"] + 1):
        sub = Subscription("DISTINCT", ["item%d" % i], FIELDS)
        sub.setDataAdapter("FEED")
        sub.setRequestedSnapshot("yes")
        sub.addListener(Eos(state))
        client.subscribe(sub)
    complete = state["all"].wait(max(0.0, ARGS["timeout"] - (time.monotonic() - start)))
    seconds = time.monotonic() - start
    hwm, rss = memory_kb()
    error = state["error"]
    if not complete and not error:
        error = "%d of %d complete at the timeout" % (state["done"], ARGS["items"])
    finish({
        "contender": NAME, "scenario": "scale", "mode": "DISTINCT",
        "ok": complete and not error, "error": error, "subscriptions": ARGS["items"],
        "completed": state["done"], "seconds": seconds, "hwm_kb": hwm, "rss_kb": rss,
        "notes": status_summary(),
    })


try:
    client.connect()
    if ARGS["scenario"] == "scale":
        scale()
    else:
        flow()
except Exception as e:  # noqa: BLE001 - reported as the result
    finish({"contender": NAME, "scenario": ARGS["scenario"], "mode": MODE, "ok": False,
            "error": "%s: %s" % (type(e).__name__, e)})
