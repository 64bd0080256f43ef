"""Generic driver for the official Lightstreamer Python client (lightstreamer-client-lib).

Reads JSON commands, one per line, on stdin and writes JSON events, one per line, on
stdout. It holds no scenario logic: the Rust tests (crates/tlcp-testkit, module
`official`) decide what to do and what to expect. The protocol is documented there and in
interop/README.md. Library logs go to stderr when TLCP_INTEROP_LOG is set
(trace|debug|info|warn|error).

The library calls listeners from its own event thread while the main thread reads stdin,
so every write to stdout goes through one lock.
"""

import json
import os
import sys
import threading
import traceback

from lightstreamer.client import (
    ClientListener,
    ClientMessageListener,
    LightstreamerClient,
    Logger,
    LoggerProvider,
    Subscription,
    SubscriptionListener,
)

_out_lock = threading.Lock()


def emit(ev):
    line = json.dumps(ev, ensure_ascii=False)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def error_message(e):
    text = str(e)
    return text if text else type(e).__name__


def _excepthook(exc_type, exc, tb):
    emit({"ev": "error", "message": "uncaught: " + error_message(exc)})
    traceback.print_exception(exc_type, exc, tb, file=sys.stderr)


def _thread_excepthook(args):
    emit({"ev": "error", "message": "uncaught in thread %s: %s" % (
        args.thread.name if args.thread else "?", error_message(args.exc_value))})
    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=sys.stderr)


sys.excepthook = _excepthook
threading.excepthook = _thread_excepthook

# ---- optional library logging to stderr ----

LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"]


class StderrLogger(Logger):
    def __init__(self, category, min_level):
        self.category = category
        self.min = min_level

    def _log(self, level, line, exception):
        if LEVELS.index(level) >= self.min:
            extra = (" " + str(exception)) if exception is not None else ""
            sys.stderr.write("[%s] %s: %s%s\n" % (level, self.category, line, extra))
            sys.stderr.flush()

    def fatal(self, line, exception=None):
        self._log("fatal", line, exception)

    def error(self, line, exception=None):
        self._log("error", line, exception)

    def warn(self, line, exception=None):
        self._log("warn", line, exception)

    def info(self, line, exception=None):
        self._log("info", line, exception)

    def debug(self, line, exception=None):
        self._log("debug", line, exception)

    def trace(self, line, exception=None):
        self._log("trace", line, exception)

    def isFatalEnabled(self):
        return self.min <= LEVELS.index("fatal")

    def isErrorEnabled(self):
        return self.min <= LEVELS.index("error")

    def isWarnEnabled(self):
        return self.min <= LEVELS.index("warn")

    def isInfoEnabled(self):
        return self.min <= LEVELS.index("info")

    def isDebugEnabled(self):
        return self.min <= LEVELS.index("debug")

    def isTraceEnabled(self):
        return self.min <= LEVELS.index("trace")


class StderrLoggerProvider(LoggerProvider):
    def __init__(self, min_level):
        self.min = min_level

    def getLogger(self, category):
        return StderrLogger(category, self.min)


_log_level = os.environ.get("TLCP_INTEROP_LOG", "").lower()
if _log_level in LEVELS:
    LightstreamerClient.setLoggerProvider(StderrLoggerProvider(LEVELS.index(_log_level)))

# ---- helpers ----


def opt_str(v):
    return None if v is None else str(v)


def snapshot_arg(v):
    if v is None:
        return None
    if v is True or v == "true":
        return "yes"
    if v is False or v == "false":
        return "no"
    return str(v)


def need(cmd, field):
    v = cmd.get(field)
    if v is None:
        raise ValueError('%s: missing "%s"' % (cmd["cmd"], field))
    return v


# Properties whose values come from the server; they are reported as `property` events.
REPORTED_PROPERTIES = {
    "sessionId", "serverInstanceAddress", "serverSocketName", "clientIp", "realMaxBandwidth",
    "keepaliveInterval",
}

# ---- state ----

client = LightstreamerClient(None, None)
subs = {}  # id -> Entry
_status_lock = threading.Lock()
_last_status = "DISCONNECTED"
_disconnected = threading.Event()
_disconnected.set()


def property_value(name):
    cap = name[0].upper() + name[1:]
    for target in (client.connectionDetails, client.connectionOptions):
        for getter in ("get" + cap, "is" + cap):
            f = getattr(target, getter, None)
            if callable(f):
                return f()
    return None


class DriverClientListener(ClientListener):
    def onStatusChange(self, status):
        global _last_status
        with _status_lock:
            _last_status = status
            if status == "DISCONNECTED":
                _disconnected.set()
            else:
                _disconnected.clear()
        emit({"ev": "status", "status": status})

    def onServerError(self, code, message):
        emit({"ev": "server_error", "code": code, "message": message})

    def onPropertyChange(self, name):
        if name in REPORTED_PROPERTIES:
            try:
                value = property_value(name)
            except Exception:  # noqa: BLE001 - best effort
                value = None
            emit({"ev": "property", "name": name, "value": None if value is None else str(value)})


client.addListener(DriverClientListener())


class Entry:
    def __init__(self, sub, command):
        self.sub = sub
        self.command = command

    def field_names(self, positions):
        """Maps field positions to names: names when the subscription gave them."""
        first = self.sub.getFields()
        second = self.sub.getCommandSecondLevelFields() if self.command else None
        n_first = len(first) if first is not None else None
        if n_first is None and second is not None:
            # First level by schema: its length is what the second level does not cover.
            n_first = (max(positions) if positions else 0) - len(second)
        names = {}
        for p in positions:
            name = None
            if first is not None and 1 <= p <= len(first):
                name = first[p - 1]
            elif second is not None and n_first is not None and 1 <= p - n_first <= len(second):
                name = second[p - n_first - 1]
            names[p] = name if name is not None else str(p)
        return names


def update_event(sub_id, entry, u):
    by_pos = dict(u.getFieldsByPosition())
    changed_pos = dict(u.getChangedFieldsByPosition())
    names = entry.field_names(sorted(set(by_pos) | set(changed_pos)))
    ev = {
        "ev": "update",
        "id": sub_id,
        "item": opt_str(u.getItemName()),
        "pos": u.getItemPos(),
        "snapshot": bool(u.isSnapshot()),
        "fields": {names[p]: by_pos[p] for p in sorted(by_pos)},
        "changed": [names[p] for p in sorted(changed_pos)],
    }
    if entry.command:
        try:
            ev["key"] = u.getValue(entry.sub.getKeyPosition())
            ev["command"] = u.getValue(entry.sub.getCommandPosition())
        except Exception:  # noqa: BLE001 - positions unknown
            ev["key"] = None
            ev["command"] = None
    return ev


class DriverSubscriptionListener(SubscriptionListener):
    def __init__(self, sub_id, entry):
        self.id = sub_id
        self.entry = entry

    def onSubscription(self):
        ev = {"ev": "subscribed", "id": self.id}
        if self.entry.command:
            try:
                ev["key_pos"] = self.entry.sub.getKeyPosition()
                ev["command_pos"] = self.entry.sub.getCommandPosition()
            except Exception:  # noqa: BLE001 - positions unknown
                ev["key_pos"] = None
                ev["command_pos"] = None
        emit(ev)

    def onUnsubscription(self):
        emit({"ev": "unsubscribed", "id": self.id})

    def onSubscriptionError(self, code, message):
        emit({"ev": "sub_error", "id": self.id, "code": code, "message": message})

    def onItemUpdate(self, update):
        try:
            emit(update_event(self.id, self.entry, update))
        except Exception as e:  # noqa: BLE001 - report, never crash
            emit({"ev": "error", "message": "update of %s: %s" % (self.id, error_message(e))})
            traceback.print_exc(file=sys.stderr)

    def onEndOfSnapshot(self, itemName, itemPos):
        emit({"ev": "eos", "id": self.id, "item": itemName, "pos": itemPos})

    def onClearSnapshot(self, itemName, itemPos):
        emit({"ev": "cs", "id": self.id, "item": itemName, "pos": itemPos})

    def onItemLostUpdates(self, itemName, itemPos, lostUpdates):
        emit({"ev": "lost", "id": self.id, "item": itemName, "pos": itemPos, "count": lostUpdates})

    def onCommandSecondLevelItemLostUpdates(self, lostUpdates, key):
        emit({"ev": "second_level_lost", "id": self.id, "key": key, "count": lostUpdates})

    def onCommandSecondLevelSubscriptionError(self, code, message, key):
        emit({"ev": "second_level_error", "id": self.id, "code": code, "message": message,
              "key": key})

    def onRealMaxFrequency(self, frequency):
        emit({"ev": "real_max_frequency", "id": self.id, "value": opt_str(frequency)})


class DriverMessageListener(ClientMessageListener):
    def __init__(self, msg_id):
        self.id = msg_id

    def onProcessed(self, msg, response):
        emit({"ev": "msg", "id": self.id, "outcome": "processed", "response": response})

    def onDeny(self, msg, code, error):
        emit({"ev": "msg", "id": self.id, "outcome": "denied", "code": code, "error": error})

    def onDiscarded(self, msg):
        emit({"ev": "msg", "id": self.id, "outcome": "discarded"})

    def onError(self, msg):
        emit({"ev": "msg", "id": self.id, "outcome": "error"})

    def onAbort(self, msg, sentOnNetwork):
        emit({"ev": "msg", "id": self.id, "outcome": "abort",
              "sent_on_network": bool(sentOnNetwork)})


# ---- commands ----


def cmd_connect(cmd):
    details = client.connectionDetails
    options = client.connectionOptions
    details.setServerAddress(need(cmd, "url"))
    details.setAdapterSet(opt_str(cmd.get("adapter_set")))
    details.setUser(opt_str(cmd.get("user")))
    details.setPassword(opt_str(cmd.get("password")))
    options.setForcedTransport(opt_str(cmd.get("transport")))
    for name, value in (cmd.get("options") or {}).items():
        setter = getattr(options, "set" + name[0].upper() + name[1:], None) if name else None
        if not callable(setter):
            raise ValueError("unknown connection option: %s" % name)
        setter(value)
    client.connect()


def cmd_subscribe(cmd):
    sub_id = str(need(cmd, "id"))
    if sub_id in subs:
        raise ValueError("subscribe: id %s already in use" % sub_id)
    mode = str(need(cmd, "mode"))
    sub = Subscription(mode, None, None)
    if cmd.get("items") is not None:
        sub.setItems([str(i) for i in cmd["items"]])
    else:
        sub.setItemGroup(str(need(cmd, "group")))
    if cmd.get("fields") is not None:
        sub.setFields([str(f) for f in cmd["fields"]])
    else:
        sub.setFieldSchema(str(need(cmd, "schema")))
    if cmd.get("data_adapter") is not None:
        sub.setDataAdapter(str(cmd["data_adapter"]))
    if cmd.get("selector") is not None:
        sub.setSelector(str(cmd["selector"]))
    if "snapshot" in cmd:
        sub.setRequestedSnapshot(snapshot_arg(cmd["snapshot"]))
    if "max_frequency" in cmd:
        sub.setRequestedMaxFrequency(opt_str(cmd["max_frequency"]))
    if "buffer_size" in cmd:
        sub.setRequestedBufferSize(opt_str(cmd["buffer_size"]))
    if cmd.get("second_level_fields") is not None:
        sub.setCommandSecondLevelFields([str(f) for f in cmd["second_level_fields"]])
    if cmd.get("second_level_schema") is not None:
        sub.setCommandSecondLevelFieldSchema(str(cmd["second_level_schema"]))
    if cmd.get("second_level_adapter") is not None:
        sub.setCommandSecondLevelDataAdapter(str(cmd["second_level_adapter"]))
    entry = Entry(sub, mode == "COMMAND")
    sub.addListener(DriverSubscriptionListener(sub_id, entry))
    subs[sub_id] = entry
    client.subscribe(sub)


def cmd_set_max_frequency(cmd):
    entry = subs.get(str(need(cmd, "id")))
    if entry is None:
        raise ValueError("set_max_frequency: unknown subscription %s" % cmd["id"])
    entry.sub.setRequestedMaxFrequency(opt_str(cmd.get("value")))


def cmd_unsubscribe(cmd):
    sub_id = str(need(cmd, "id"))
    entry = subs.pop(sub_id, None)
    if entry is None:
        raise ValueError("unsubscribe: unknown subscription %s" % sub_id)
    client.unsubscribe(entry.sub)


def cmd_send(cmd):
    message = str(need(cmd, "message"))
    listen = cmd.get("listen", True)
    listener = DriverMessageListener(str(need(cmd, "id"))) if listen else None
    timeout = cmd.get("timeout")
    client.sendMessage(message, opt_str(cmd.get("sequence")),
                       None if timeout is None else int(timeout), listener,
                       bool(cmd.get("enqueue", False)))


def cmd_disconnect(_cmd):
    client.disconnect()


class Exit(Exception):
    pass


def cmd_exit(_cmd):
    raise Exit()


COMMANDS = {
    "connect": cmd_connect,
    "subscribe": cmd_subscribe,
    "set_max_frequency": cmd_set_max_frequency,
    "unsubscribe": cmd_unsubscribe,
    "send": cmd_send,
    "disconnect": cmd_disconnect,
    "exit": cmd_exit,
}


def handle_line(line):
    if not line.strip():
        return
    try:
        cmd = json.loads(line)
    except ValueError as e:
        emit({"ev": "error", "message": "bad JSON: %s" % e, "line": line})
        return
    if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
        emit({"ev": "error", "message": 'a command is a JSON object with a string "cmd"',
              "line": line})
        return
    handler = COMMANDS.get(cmd["cmd"])
    if handler is None:
        emit({"ev": "error", "message": "unknown command: %s" % cmd["cmd"], "line": line})
        return
    try:
        handler(cmd)
    except Exit:
        raise
    except Exception as e:  # noqa: BLE001 - report, never crash
        emit({"ev": "error", "message": "%s: %s" % (cmd["cmd"], error_message(e)), "line": line})
        traceback.print_exc(file=sys.stderr)


def shutdown():
    try:
        with _status_lock:
            connected = _last_status != "DISCONNECTED"
        if connected:
            client.disconnect()
            _disconnected.wait(1.0)
        # Let the destroy request and the last events leave before exiting.
        threading.Event().wait(0.1)
    finally:
        with _out_lock:
            sys.stdout.flush()
        # The library's threads are not all daemons: leave without waiting for them.
        os._exit(0)


def main():
    emit({"ev": "ready", "library": "lightstreamer-client-lib",
          "version": LightstreamerClient.LIB_VERSION})
    try:
        for line in sys.stdin:
            handle_line(line.rstrip("\r\n"))
    except Exit:
        pass
    shutdown()


if __name__ == "__main__":
    main()
