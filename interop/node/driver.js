'use strict';
// Generic driver for the official Lightstreamer Node.js client (lightstreamer-client-node).
//
// Reads JSON commands, one per line, on stdin and writes JSON events, one per line, on
// stdout. It holds no scenario logic: the Rust tests (crates/tlcp-testkit, module
// `official`) decide what to do and what to expect. The protocol is documented there and
// in interop/README.md. Library logs go to stderr when TLCP_INTEROP_LOG is set
// (trace|debug|info|warn|error).

const readline = require('readline');
const ls = require('lightstreamer-client-node');

function emit(ev) {
  // One line per event; process.stdout.write on a pipe is asynchronous but ordered.
  process.stdout.write(JSON.stringify(ev) + '\n');
}

function errorMessage(e) {
  if (e instanceof Error) return e.message || String(e);
  if (e && typeof e === 'object' && e.message) return String(e.message);
  return String(e);
}

process.on('uncaughtException', (e) => emit({ ev: 'error', message: 'uncaught: ' + errorMessage(e) }));
process.on('unhandledRejection', (e) => emit({ ev: 'error', message: 'unhandled rejection: ' + errorMessage(e) }));

// ---- optional library logging to stderr ----

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

function stderrLoggerProvider(minLevel) {
  const min = LEVELS.indexOf(minLevel);
  const logger = (category) => {
    const l = {};
    for (const [i, level] of LEVELS.entries()) {
      const enabled = i >= min;
      l[level] = (msg, exc) => {
        if (enabled) process.stderr.write(`[${level}] ${category}: ${msg}${exc ? ' ' + exc : ''}\n`);
      };
      l['is' + level[0].toUpperCase() + level.slice(1) + 'Enabled'] = () => enabled;
    }
    return l;
  };
  return { getLogger: logger };
}

const logLevel = (process.env.TLCP_INTEROP_LOG || '').toLowerCase();
if (LEVELS.includes(logLevel)) {
  ls.LightstreamerClient.setLoggerProvider(stderrLoggerProvider(logLevel));
}

// ---- state ----

const client = new ls.LightstreamerClient(null, null);
const subs = new Map(); // id -> { sub, named, command }
let lastStatus = 'DISCONNECTED';
let statusWaiters = [];

// Properties whose values come from the server; they are reported as `property` events.
const REPORTED_PROPERTIES = new Set([
  'sessionId', 'serverInstanceAddress', 'serverSocketName', 'clientIp', 'realMaxBandwidth',
  'keepaliveInterval',
]);

function propertyValue(name) {
  const cap = name[0].toUpperCase() + name.slice(1);
  for (const target of [client.connectionDetails, client.connectionOptions]) {
    for (const getter of ['get' + cap, 'is' + cap]) {
      if (typeof target[getter] === 'function') {
        const v = target[getter]();
        return v === undefined ? null : v;
      }
    }
  }
  return null;
}

client.addListener({
  onStatusChange(status) {
    lastStatus = status;
    emit({ ev: 'status', status });
    const waiters = statusWaiters;
    statusWaiters = [];
    for (const w of waiters) w(status);
  },
  onServerError(code, message) {
    emit({ ev: 'server_error', code, message: message === undefined ? null : message });
  },
  onPropertyChange(name) {
    if (REPORTED_PROPERTIES.has(name)) {
      let value = null;
      try {
        value = propertyValue(name);
      } catch (e) {
        value = null;
      }
      emit({ ev: 'property', name, value: value === null ? null : String(value) });
    }
  },
});

// ---- helpers ----

function str(v) {
  return v === undefined || v === null ? null : String(v);
}

function optStr(v) {
  // JSON numbers and strings are both accepted where the library takes a string.
  return v === undefined || v === null ? null : String(v);
}

function snapshotArg(v) {
  if (v === undefined || v === null) return null;
  if (v === true || v === 'true') return 'yes';
  if (v === false || v === 'false') return 'no';
  return String(v);
}

function setOption(name, value) {
  const setter = 'set' + name[0].toUpperCase() + name.slice(1);
  const target = client.connectionOptions;
  if (typeof target[setter] !== 'function') throw new Error(`unknown connection option: ${name}`);
  target[setter](value);
}

function updateEvent(id, entry, u) {
  const fields = {};
  const changed = [];
  const key = (name, pos) => (name !== null && name !== undefined ? name : String(pos));
  u.forEachField((name, pos, value) => {
    fields[key(name, pos)] = value === undefined ? null : value;
  });
  u.forEachChangedField((name, pos) => {
    changed.push(key(name, pos));
  });
  const ev = {
    ev: 'update',
    id,
    item: str(u.getItemName()),
    pos: u.getItemPos(),
    snapshot: u.isSnapshot(),
    fields,
    changed,
  };
  if (entry.command) {
    try {
      ev.key = str(u.getValue(entry.sub.getKeyPosition()));
      ev.command = str(u.getValue(entry.sub.getCommandPosition()));
    } catch (e) {
      ev.key = null;
      ev.command = null;
    }
  }
  return ev;
}

function subscriptionListener(id, entry) {
  return {
    onSubscription() {
      const ev = { ev: 'subscribed', id };
      if (entry.command) {
        try {
          ev.key_pos = entry.sub.getKeyPosition();
          ev.command_pos = entry.sub.getCommandPosition();
        } catch (e) {
          ev.key_pos = null;
          ev.command_pos = null;
        }
      }
      emit(ev);
    },
    onUnsubscription() {
      emit({ ev: 'unsubscribed', id });
    },
    onSubscriptionError(code, message) {
      emit({ ev: 'sub_error', id, code, message: str(message) });
    },
    onItemUpdate(u) {
      try {
        emit(updateEvent(id, entry, u));
      } catch (e) {
        emit({ ev: 'error', message: `update of ${id}: ${errorMessage(e)}` });
      }
    },
    onEndOfSnapshot(item, pos) {
      emit({ ev: 'eos', id, item: str(item), pos });
    },
    onClearSnapshot(item, pos) {
      emit({ ev: 'cs', id, item: str(item), pos });
    },
    onItemLostUpdates(item, pos, count) {
      emit({ ev: 'lost', id, item: str(item), pos, count });
    },
    onCommandSecondLevelItemLostUpdates(count, key) {
      emit({ ev: 'second_level_lost', id, key: str(key), count });
    },
    onCommandSecondLevelSubscriptionError(code, message, key) {
      emit({ ev: 'second_level_error', id, code, message: str(message), key: str(key) });
    },
    onRealMaxFrequency(value) {
      emit({ ev: 'real_max_frequency', id, value: str(value) });
    },
  };
}

function messageListener(id) {
  return {
    onProcessed(msg, response) {
      emit({ ev: 'msg', id, outcome: 'processed', response: str(response) });
    },
    onDeny(msg, code, error) {
      emit({ ev: 'msg', id, outcome: 'denied', code, error: str(error) });
    },
    onDiscarded() {
      emit({ ev: 'msg', id, outcome: 'discarded' });
    },
    onError() {
      emit({ ev: 'msg', id, outcome: 'error' });
    },
    onAbort(msg, sentOnNetwork) {
      emit({ ev: 'msg', id, outcome: 'abort', sent_on_network: !!sentOnNetwork });
    },
  };
}

function need(cmd, field) {
  if (cmd[field] === undefined || cmd[field] === null) throw new Error(`${cmd.cmd}: missing "${field}"`);
  return cmd[field];
}

// ---- commands ----

const COMMANDS = {
  connect(cmd) {
    client.connectionDetails.setServerAddress(need(cmd, 'url'));
    client.connectionDetails.setAdapterSet(optStr(cmd.adapter_set));
    client.connectionDetails.setUser(optStr(cmd.user));
    client.connectionDetails.setPassword(optStr(cmd.password));
    client.connectionOptions.setForcedTransport(optStr(cmd.transport));
    for (const [name, value] of Object.entries(cmd.options || {})) setOption(name, value);
    client.connect();
  },

  subscribe(cmd) {
    const id = String(need(cmd, 'id'));
    if (subs.has(id)) throw new Error(`subscribe: id ${id} already in use`);
    const mode = String(need(cmd, 'mode'));
    const sub = new ls.Subscription(mode);
    if (cmd.items !== undefined && cmd.items !== null) sub.setItems(cmd.items.map(String));
    else sub.setItemGroup(String(need(cmd, 'group')));
    if (cmd.fields !== undefined && cmd.fields !== null) sub.setFields(cmd.fields.map(String));
    else sub.setFieldSchema(String(need(cmd, 'schema')));
    if (cmd.data_adapter != null) sub.setDataAdapter(String(cmd.data_adapter));
    if (cmd.selector != null) sub.setSelector(String(cmd.selector));
    if (cmd.snapshot !== undefined) sub.setRequestedSnapshot(snapshotArg(cmd.snapshot));
    if (cmd.max_frequency !== undefined) sub.setRequestedMaxFrequency(optStr(cmd.max_frequency));
    if (cmd.buffer_size !== undefined) sub.setRequestedBufferSize(optStr(cmd.buffer_size));
    if (cmd.second_level_fields != null) sub.setCommandSecondLevelFields(cmd.second_level_fields.map(String));
    if (cmd.second_level_schema != null) sub.setCommandSecondLevelFieldSchema(String(cmd.second_level_schema));
    if (cmd.second_level_adapter != null) sub.setCommandSecondLevelDataAdapter(String(cmd.second_level_adapter));
    const entry = { sub, command: mode === 'COMMAND' };
    sub.addListener(subscriptionListener(id, entry));
    subs.set(id, entry);
    client.subscribe(sub);
  },

  set_max_frequency(cmd) {
    const entry = subs.get(String(need(cmd, 'id')));
    if (!entry) throw new Error(`set_max_frequency: unknown subscription ${cmd.id}`);
    entry.sub.setRequestedMaxFrequency(optStr(cmd.value));
  },

  unsubscribe(cmd) {
    const id = String(need(cmd, 'id'));
    const entry = subs.get(id);
    if (!entry) throw new Error(`unsubscribe: unknown subscription ${id}`);
    subs.delete(id);
    client.unsubscribe(entry.sub);
  },

  send(cmd) {
    const message = String(need(cmd, 'message'));
    const listen = cmd.listen === undefined ? true : !!cmd.listen;
    const listener = listen ? messageListener(String(need(cmd, 'id'))) : null;
    const timeout = cmd.timeout === undefined || cmd.timeout === null ? null : Number(cmd.timeout);
    client.sendMessage(message, optStr(cmd.sequence), timeout, listener, !!cmd.enqueue);
  },

  disconnect() {
    client.disconnect();
  },

  exit() {
    shutdown();
  },
};

let shuttingDown = false;

function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  const finish = () => {
    // Let the destroy request and the last events leave before exiting.
    setTimeout(() => process.stdout.write('', () => process.exit(0)), 100);
  };
  if (lastStatus === 'DISCONNECTED') {
    finish();
    return;
  }
  const timer = setTimeout(finish, 1000);
  statusWaiters.push((status) => {
    if (status === 'DISCONNECTED') {
      clearTimeout(timer);
      finish();
    }
  });
  try {
    client.disconnect();
  } catch (e) {
    finish();
  }
}

function handleLine(line) {
  if (line.trim() === '') return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit({ ev: 'error', message: `bad JSON: ${errorMessage(e)}`, line });
    return;
  }
  if (cmd === null || typeof cmd !== 'object' || typeof cmd.cmd !== 'string') {
    emit({ ev: 'error', message: 'a command is a JSON object with a string "cmd"', line });
    return;
  }
  const handler = Object.prototype.hasOwnProperty.call(COMMANDS, cmd.cmd) ? COMMANDS[cmd.cmd] : null;
  if (!handler) {
    emit({ ev: 'error', message: `unknown command: ${cmd.cmd}`, line });
    return;
  }
  try {
    handler(cmd);
  } catch (e) {
    emit({ ev: 'error', message: `${cmd.cmd}: ${errorMessage(e)}`, line });
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', handleLine);
rl.on('close', shutdown);

emit({ ev: 'ready', library: 'lightstreamer-client-node', version: ls.LightstreamerClient.LIB_VERSION || null });
