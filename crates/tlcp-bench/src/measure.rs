//! What every Rust contender measures, and the JSON line it prints (std only: this file is
//! also compiled into the bench-only `bench/lightstreamer-rs` project, through `#[path]`).
//!
//! The same logic is written in `bench/node/contender.js` and `bench/python/contender.py`:
//! the command line, the phases (warm-up, then a measured window), what is counted, and the
//! JSON line. Keep the three in step.
//!
//! Work done per update by every contender: read the 10 field values as text (their
//! lengths are summed into `checksum`, so none can be skipped), parse `ts` and `seq` as
//! integers, check `seq` against the item's previous one (lost / duplicated), and, in the
//! latency scenario, store `receive time - ts`.

#![allow(dead_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The scenario a contender runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// One subscription, counting updates over the window.
    Throughput,
    /// As throughput, and the latency of every update of the window.
    Latency,
    /// `items` subscriptions of one item each, until all have their end of snapshot.
    Scale,
    /// As throughput, and the arrival time of every update (the server cuts the stream).
    Recovery,
}

impl Scenario {
    /// The name on the command line and in the JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Throughput => "throughput",
            Scenario::Latency => "latency",
            Scenario::Scale => "scale",
            Scenario::Recovery => "recovery",
        }
    }
}

/// The command line shared by every contender (Rust, Node, Python).
#[derive(Debug, Clone)]
pub(crate) struct Args {
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    /// What to run.
    pub(crate) scenario: Scenario,
    /// `MERGE` or `DISTINCT` (scale always uses DISTINCT with snapshot).
    pub(crate) distinct: bool,
    /// Items of the subscription (`bench1..benchN`), or subscriptions (scale: `item1..itemN`).
    pub(crate) items: usize,
    /// Seconds from the subscription to the start of the measured window.
    pub(crate) warmup: f64,
    /// Seconds of the measured window.
    pub(crate) duration: f64,
    /// Seconds to wait for the session / the subscriptions.
    pub(crate) timeout: f64,
}

impl Args {
    /// Parses `--url U --scenario S --mode merge|distinct --items N --warmup S --duration S
    /// --timeout S`.
    pub(crate) fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            url: String::new(),
            scenario: Scenario::Throughput,
            distinct: false,
            items: 1,
            warmup: 1.0,
            duration: 5.0,
            timeout: 30.0,
        };
        let mut it = argv.into_iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag}: missing value"))?;
            let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag} {v}: {e}"));
            match flag.as_str() {
                "--url" => a.url = value,
                "--scenario" => {
                    a.scenario = match value.as_str() {
                        "throughput" => Scenario::Throughput,
                        "latency" => Scenario::Latency,
                        "scale" => Scenario::Scale,
                        "recovery" => Scenario::Recovery,
                        other => return Err(format!("unknown scenario {other}")),
                    }
                }
                "--mode" => a.distinct = value.eq_ignore_ascii_case("distinct"),
                "--items" => a.items = value.parse().map_err(|e| format!("--items: {e}"))?,
                "--warmup" => a.warmup = num(&value)?,
                "--duration" => a.duration = num(&value)?,
                "--timeout" => a.timeout = num(&value)?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if a.url.is_empty() {
            return Err("--url is required".into());
        }
        Ok(a)
    }

    /// `MERGE` or `DISTINCT`.
    pub(crate) fn mode_name(&self) -> &'static str {
        if self.distinct { "DISTINCT" } else { "MERGE" }
    }

    /// The item names of the subscription (throughput, latency, recovery).
    pub(crate) fn item_names(&self) -> Vec<String> {
        (1..=self.items).map(|i| format!("bench{i}")).collect()
    }
}

/// The 10 fields every contender subscribes to.
pub(crate) const FIELDS: [&str; 10] = ["ts", "seq", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];

/// Nanoseconds since the Unix epoch (the clock of FEED's `ts`).
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// CPU seconds (user + system, all threads) of this process, from `/proc/self/stat`.
pub(crate) fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// `VmHWM` and `VmRSS` of this process in KiB, from `/proc/self/status`.
pub(crate) fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmHWM:"), get("VmRSS:"))
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
    }
    Some(v)
}

/// Counts what the application received, by phase.
#[derive(Debug)]
pub(crate) struct Recorder {
    scenario: Scenario,
    start: Instant,
    window_start: Instant,
    window_end: Instant,
    end_check: u32,
    in_window: bool,
    since_check: u32,
    /// Updates since the subscription.
    pub(crate) total: u64,
    window_total_at_start: u64,
    window_cpu_at_start: f64,
    window_started_at: Option<Instant>,
    /// Sum of the lengths of every field value read.
    pub(crate) checksum: u64,
    last_seq: Vec<u64>,
    /// Updates whose `seq` skipped some (sum of the skipped counts).
    pub(crate) lost: u64,
    /// Updates whose `seq` was not above the item's previous one.
    pub(crate) dup: u64,
    /// Updates without a parsable `ts`/`seq`.
    pub(crate) malformed: u64,
    latencies_ns: Vec<i64>,
    arrivals_us: Vec<i64>,
}

impl Recorder {
    /// Starts the clock (call once the subscription is sent).
    pub(crate) fn new(args: &Args) -> Recorder {
        let start = Instant::now();
        Recorder {
            scenario: args.scenario,
            start,
            window_start: start + Duration::from_secs_f64(args.warmup),
            window_end: start + Duration::from_secs_f64(args.warmup + args.duration),
            end_check: 0,
            in_window: false,
            since_check: 0,
            total: 0,
            window_total_at_start: 0,
            window_cpu_at_start: 0.0,
            window_started_at: None,
            checksum: 0,
            last_seq: vec![0; args.items.max(1)],
            lost: 0,
            dup: 0,
            malformed: 0,
            latencies_ns: Vec::new(),
            arrivals_us: Vec::new(),
        }
    }

    /// When the measured window ends.
    pub(crate) fn end(&self, _args: &Args) -> Instant {
        self.window_end
    }

    /// Whether the window is over, looking at the clock every 256 calls: a loop that never
    /// waits (updates always ready) may not see its timer fire in time, so the loops call
    /// this after every update as well.
    #[inline]
    pub(crate) fn past_end(&mut self) -> bool {
        self.end_check += 1;
        if self.end_check < 256 {
            return false;
        }
        self.end_check = 0;
        Instant::now() >= self.window_end
    }

    fn open_window(&mut self) {
        self.in_window = true;
        self.window_total_at_start = self.total;
        self.window_cpu_at_start = cpu_seconds();
        self.window_started_at = Some(Instant::now());
    }

    /// Call when the window start is due even if no update comes (from a timer).
    pub(crate) fn poll_window(&mut self) {
        if !self.in_window && Instant::now() >= self.window_start {
            self.open_window();
        }
    }

    /// One update of item `item` (0-based position in the subscription), with its values
    /// in schema order.
    #[inline]
    pub(crate) fn on_update<'a>(
        &mut self,
        item: usize,
        values: impl IntoIterator<Item = Option<&'a str>>,
    ) {
        let mut ts: Option<u64> = None;
        let mut seq: Option<u64> = None;
        for (i, v) in values.into_iter().enumerate() {
            let v = v.unwrap_or("");
            self.checksum += v.len() as u64;
            match i {
                0 => ts = parse_u64(v),
                1 => seq = parse_u64(v),
                _ => {}
            }
        }
        self.record(item, ts, seq);
    }

    /// Counts an update without looking at it (the `raw-split` baseline).
    #[inline]
    pub(crate) fn count(&mut self) {
        self.total += 1;
        if !self.in_window {
            self.since_check += 1;
            if self.since_check >= 64 {
                self.since_check = 0;
                self.poll_window();
            }
        }
    }

    /// The bookkeeping of [`Recorder::on_update`] once the values are read.
    #[inline]
    pub(crate) fn record(&mut self, item: usize, ts: Option<u64>, seq: Option<u64>) {
        self.total += 1;
        let (Some(ts), Some(seq)) = (ts, seq) else {
            self.malformed += 1;
            return;
        };
        if let Some(last) = self.last_seq.get_mut(item) {
            if *last == 0 || seq == *last + 1 {
                *last = seq;
            } else if seq > *last {
                self.lost += seq - *last - 1;
                *last = seq;
            } else {
                self.dup += 1;
            }
        }
        match self.scenario {
            Scenario::Latency => {
                if !self.in_window {
                    self.poll_window();
                }
                if self.in_window {
                    self.latencies_ns.push(now_ns() - ts as i64);
                }
            }
            Scenario::Recovery => self.arrivals_us.push(now_ns() / 1000),
            _ => {
                if !self.in_window {
                    self.since_check += 1;
                    if self.since_check >= 64 {
                        self.since_check = 0;
                        self.poll_window();
                    }
                }
            }
        }
    }

    /// The JSON line of a flow scenario, at the end of the window.
    pub(crate) fn report(&mut self, contender: &str, args: &Args, notes: &str) -> String {
        let now = Instant::now();
        let cpu = cpu_seconds();
        let (hwm, rss) = memory_kb();
        let (updates, seconds, cpu_s) = match self.window_started_at {
            Some(t) => (
                self.total - self.window_total_at_start,
                now.duration_since(t).as_secs_f64(),
                cpu - self.window_cpu_at_start,
            ),
            None => (0, 0.0, 0.0),
        };
        let mut out = format!(
            "{{\"contender\":{},\"scenario\":\"{}\",\"mode\":\"{}\",\"ok\":true,\"updates\":{updates},\"seconds\":{seconds:.4},\"cpu_s\":{cpu_s:.3},\"hwm_kb\":{hwm},\"rss_kb\":{rss},\"total_updates\":{},\"lost\":{},\"dup\":{},\"malformed\":{},\"checksum\":{},\"since_start_s\":{:.3},\"end_us\":{},\"notes\":{}",
            json_str(contender),
            args.scenario.name(),
            args.mode_name(),
            self.total,
            self.lost,
            self.dup,
            self.malformed,
            self.checksum,
            now.duration_since(self.start).as_secs_f64(),
            now_ns() / 1000,
            json_str(notes),
        );
        if self.scenario == Scenario::Latency {
            let v = &mut self.latencies_ns;
            v.sort_unstable();
            let pct = |p: f64| -> f64 {
                if v.is_empty() {
                    return f64::NAN;
                }
                let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
                v[i] as f64 / 1000.0
            };
            out.push_str(&format!(
                ",\"lat_us\":{{\"n\":{},\"p50\":{},\"p99\":{},\"p999\":{},\"max\":{}}}",
                v.len(),
                json_f(pct(0.5)),
                json_f(pct(0.99)),
                json_f(pct(0.999)),
                json_f(pct(1.0))
            ));
        }
        if self.scenario == Scenario::Recovery {
            out.push_str(",\"arrivals_us\":[");
            for (i, a) in self.arrivals_us.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&a.to_string());
            }
            out.push(']');
        }
        out.push('}');
        out
    }
}

/// The JSON line of the scale scenario.
pub(crate) fn scale_report(
    contender: &str,
    args: &Args,
    done: usize,
    seconds: f64,
    error: Option<&str>,
    notes: &str,
) -> String {
    let (hwm, rss) = memory_kb();
    format!(
        "{{\"contender\":{},\"scenario\":\"scale\",\"mode\":\"DISTINCT\",\"ok\":{},\"error\":{},\"subscriptions\":{},\"completed\":{done},\"seconds\":{seconds:.4},\"hwm_kb\":{hwm},\"rss_kb\":{rss},\"notes\":{}}}",
        json_str(contender),
        error.is_none() && done == args.items,
        error.map_or("null".to_owned(), json_str),
        args.items,
        json_str(notes),
    )
}

/// A failure as a JSON line (the harness shows `error` in the table).
pub(crate) fn error_report(contender: &str, args: &Args, error: &str) -> String {
    format!(
        "{{\"contender\":{},\"scenario\":\"{}\",\"mode\":\"{}\",\"ok\":false,\"error\":{}}}",
        json_str(contender),
        args.scenario.name(),
        args.mode_name(),
        json_str(error)
    )
}

fn json_f(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "null".into()
    }
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
