'use strict';
// The official Node.js client (lightstreamer-client-node, installed in interop/node by
// interop/setup.sh) as a contender of `tlcp-bench compare`.
//
// Same command line, phases, per-update work and JSON line as every other contender: see
// crates/tlcp-bench/src/measure.rs (the reference) and keep them in step.
//   node bench/node/contender.js --url URL --scenario throughput|latency|scale|recovery
//        [--mode merge|distinct] [--items N] [--warmup S] [--duration S] [--timeout S]

const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const ls = require(path.join(__dirname, '..', '..', 'interop', 'node', 'node_modules', 'lightstreamer-client-node'));

const NAME = 'official-node';
const FIELDS = ['ts', 'seq', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8'];

function parseArgs(argv) {
  const a = { url: '', scenario: 'throughput', distinct: false, items: 1, warmup: 1, duration: 5, timeout: 30 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--url': a.url = v; break;
      case '--scenario': a.scenario = v; break;
      case '--mode': a.distinct = v.toLowerCase() === 'distinct'; break;
      case '--items': a.items = parseInt(v, 10); break;
      case '--warmup': a.warmup = parseFloat(v); break;
      case '--duration': a.duration = parseFloat(v); break;
      case '--timeout': a.timeout = parseFloat(v); break;
      default: throw new Error('unknown option ' + argv[i]);
    }
  }
  if (!a.url) throw new Error('--url is required');
  return a;
}

const args = parseArgs(process.argv.slice(2));
const modeName = args.distinct ? 'DISTINCT' : 'MERGE';

function nowNs() {
  return (performance.timeOrigin + performance.now()) * 1e6;
}

function cpuSeconds() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function memoryKb() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const get = (k) => {
    const m = s.match(new RegExp('^' + k + ':\\s+(\\d+)', 'm'));
    return m ? Number(m[1]) : 0;
  };
  return [get('VmHWM'), get('VmRSS')];
}

let finished = false;
function finish(obj) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(0));
}

function errorReport(e) {
  finish({ contender: NAME, scenario: args.scenario, mode: modeName, ok: false, error: String(e && e.message ? e.message : e) });
}

const client = new ls.LightstreamerClient(args.url, 'DEMO');
client.connectionOptions.setForcedTransport('WS-STREAMING');
const statuses = [];
client.addListener({
  onStatusChange(s) { if (statuses.length < 200) statuses.push(s); },
  onServerError(code, msg) { statuses.push('server error ' + code + ' ' + msg); },
});

function statusSummary() {
  const counts = new Map();
  for (const s of statuses) counts.set(s, (counts.get(s) || 0) + 1);
  return 'status changes: ' + [...counts].map(([s, n]) => n + 'x ' + s).join('; ');
}

function flow() {
  const start = performance.now();
  let total = 0, checksum = 0, lost = 0, dup = 0, malformed = 0;
  const lastSeq = new Array(args.items).fill(0);
  const latencies = [];
  const arrivals = [];
  let inWindow = false, windowTotal = 0, windowCpu = 0, windowAt = 0;
  let notes = '';
  const openWindow = () => {
    if (inWindow) return;
    inWindow = true; windowTotal = total; windowCpu = cpuSeconds(); windowAt = performance.now();
  };
  const sub = new ls.Subscription(modeName, Array.from({ length: args.items }, (_, i) => 'bench' + (i + 1)), FIELDS);
  sub.setDataAdapter('FEED');
  sub.setRequestedSnapshot('no');
  sub.addListener({
    onItemUpdate(u) {
      let ts = NaN, seq = NaN;
      for (let p = 1; p <= 10; p++) {
        const v = u.getValue(p);
        const s = v == null ? '' : v;
        checksum += s.length;
        if (p === 1) ts = Number(s); else if (p === 2) seq = Number(s);
      }
      total++;
      if (!(s_ok(ts) && s_ok(seq))) { malformed++; return; }
      const i = u.getItemPos() - 1;
      const last = lastSeq[i];
      if (last === 0 || seq === last + 1) lastSeq[i] = seq;
      else if (seq > last) { lost += seq - last - 1; lastSeq[i] = seq; }
      else dup++;
      if (args.scenario === 'latency') {
        if (!inWindow && performance.now() - start >= args.warmup * 1000) openWindow();
        if (inWindow) latencies.push(nowNs() - ts);
      } else if (args.scenario === 'recovery') {
        arrivals.push(Math.floor(nowNs() / 1000));
      }
    },
    onSubscriptionError(code, msg) { notes += 'subscription error ' + code + ' ' + msg + '; '; },
    onItemLostUpdates(name, pos, n) { notes += 'the library reported ' + n + ' lost updates; '; },
  });
  client.subscribe(sub);
  setTimeout(openWindow, args.warmup * 1000);
  setTimeout(() => {
    const now = performance.now();
    const cpu = cpuSeconds();
    const [hwm, rss] = memoryKb();
    const out = {
      contender: NAME, scenario: args.scenario, mode: modeName, ok: true,
      updates: inWindow ? total - windowTotal : 0,
      seconds: inWindow ? (now - windowAt) / 1000 : 0,
      cpu_s: inWindow ? cpu - windowCpu : 0,
      hwm_kb: hwm, rss_kb: rss, total_updates: total, lost, dup, malformed, checksum,
      since_start_s: (now - start) / 1000, end_us: Math.floor(nowNs() / 1000),
      notes: notes + statusSummary(),
    };
    if (args.scenario === 'latency') {
      const v = Float64Array.from(latencies).sort();
      const pct = (p) => v.length ? Math.round(v[Math.min(Math.max(Math.ceil(p * v.length), 1), v.length) - 1] / 100) / 10 : null;
      out.lat_us = { n: v.length, p50: pct(0.5), p99: pct(0.99), p999: pct(0.999), max: pct(1) };
    }
    if (args.scenario === 'recovery') out.arrivals_us = arrivals;
    finish(out);
  }, (args.warmup + args.duration) * 1000);
}

function s_ok(x) { return Number.isFinite(x); }

function scale() {
  const start = performance.now();
  let done = 0, errors = '';
  const report = (error) => {
    const [hwm, rss] = memoryKb();
    finish({
      contender: NAME, scenario: 'scale', mode: 'DISTINCT', ok: !error && done === args.items,
      error: error || null, subscriptions: args.items, completed: done,
      seconds: (performance.now() - start) / 1000, hwm_kb: hwm, rss_kb: rss, notes: statusSummary(),
    });
  };
  for (let i = 1; i <= args.items; i++) {
    const sub = new ls.Subscription('DISTINCT', ['item' + i], FIELDS);
    sub.setDataAdapter('FEED');
    sub.setRequestedSnapshot('yes');
    sub.addListener({
      onEndOfSnapshot() { done++; if (done === args.items) report(null); },
      onSubscriptionError(code, msg) { if (!errors) errors = 'subscription error ' + code + ' ' + msg; },
    });
    client.subscribe(sub);
  }
  setTimeout(() => report(errors || (done + ' of ' + args.items + ' complete at the timeout')), args.timeout * 1000);
}

try {
  client.connect();
  if (args.scenario === 'scale') scale(); else flow();
} catch (e) {
  errorReport(e);
}
