//! `tlcp-bench compare`: builds the contenders, runs every scenario, aggregates, reports.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::report;

/// A client (or baseline) and how to start it.
#[derive(Debug, Clone)]
pub(crate) struct Contender {
    pub(crate) name: &'static str,
    program: PathBuf,
    prefix: Vec<String>,
    /// Why it cannot run, when its build or installation failed.
    pub(crate) unavailable: Option<String>,
}

/// One measured configuration: a server setting, a scenario, who takes part.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) id: &'static str,
    pub(crate) title: String,
    pub(crate) scenario: &'static str,
    pub(crate) distinct: bool,
    pub(crate) items: usize,
    /// `--feed-rate` of the server (per item).
    pub(crate) feed_rate: String,
    pub(crate) cut_every: Option<f64>,
    pub(crate) warmup: f64,
    pub(crate) duration: f64,
    pub(crate) timeout: f64,
    pub(crate) reps: usize,
    pub(crate) contenders: Vec<&'static str>,
}

/// The names, in table order.
pub(crate) const ALL: [&str; 7] = [
    "tlcp-client",
    "tlcp-client-busy-poll",
    "lightstreamer-rs",
    "official-node",
    "official-python",
    "raw-decode",
    "raw-split",
];

const CLIENTS: [&str; 4] = [
    "tlcp-client",
    "lightstreamer-rs",
    "official-node",
    "official-python",
];

fn plan(quick: bool) -> Vec<Case> {
    let flow = |c: &[&'static str]| c.to_vec();
    let thr = [
        "tlcp-client",
        "lightstreamer-rs",
        "official-node",
        "official-python",
        "raw-decode",
        "raw-split",
    ];
    let lat = [
        "tlcp-client",
        "tlcp-client-busy-poll",
        "lightstreamer-rs",
        "official-node",
        "official-python",
        "raw-decode",
    ];
    let (warmup, duration, reps) = if quick { (1.0, 1.0, 1) } else { (1.5, 4.0, 3) };
    let mut cases = vec![];
    for (id, distinct) in [("throughput-merge", false), ("throughput-distinct", true)] {
        cases.push(Case {
            id,
            title: format!(
                "Throughput, {}: one subscription, 1 item, 10 fields, FEED as fast as the reader takes",
                if distinct { "DISTINCT" } else { "MERGE" }
            ),
            scenario: "throughput",
            distinct,
            items: 1,
            feed_rate: "max".into(),
            cut_every: None,
            warmup,
            duration,
            timeout: 20.0,
            reps,
            contenders: flow(&thr),
        });
    }
    for (id, total) in [("latency-1k", 1_000.0), ("latency-100k", 100_000.0)] {
        cases.push(Case {
            id,
            title: format!(
                "Latency at {} updates/s in total: one MERGE subscription of 10 items at {} updates/s each",
                thousands(total),
                thousands(total / 10.0)
            ),
            scenario: "latency",
            distinct: false,
            items: 10,
            feed_rate: format!("{}", total / 10.0),
            cut_every: None,
            warmup,
            duration,
            timeout: 20.0,
            reps,
            contenders: flow(&lat),
        });
    }
    let subs = if quick { 1_000 } else { 10_000 };
    cases.push(Case {
        id: "scale",
        title: format!(
            "Scale: {} DISTINCT subscriptions of one item each (snapshot requested), until every one has its end of snapshot",
            thousands(subs as f64)
        ),
        scenario: "scale",
        distinct: true,
        items: subs,
        // One update per item every 100 s: the subscriptions, not the flow, are measured.
        feed_rate: "0.01".into(),
        cut_every: None,
        warmup: 0.0,
        duration: 0.0,
        timeout: if quick { 20.0 } else { 30.0 },
        reps,
        contenders: flow(&CLIENTS),
    });
    cases.push(Case {
        id: "recovery",
        title: format!(
            "Recovery: DISTINCT, 1 item at 500 updates/s for {} s, the server cutting every stream connection once a second",
            if quick { 4 } else { 30 }
        ),
        scenario: "recovery",
        distinct: true,
        items: 1,
        // Well below the slowest client's throughput (the official Python client reads
        // about 1,000 updates/s on the loaded 2-core machine), so that the scenario
        // measures recovery, not a backlog.
        feed_rate: "500".into(),
        cut_every: Some(1.0),
        warmup: 0.5,
        duration: if quick { 4.0 } else { 30.0 },
        timeout: 20.0,
        reps: 1,
        contenders: flow(&CLIENTS),
    });
    cases
}

pub(crate) fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Options {
    quick: bool,
    skip_build: bool,
    only: Option<Vec<String>>,
    cases: Option<Vec<String>>,
    doc: Option<PathBuf>,
}

fn parse(argv: Vec<String>) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        skip_build: false,
        only: None,
        cases: None,
        doc: None,
    };
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--skip-build" => o.skip_build = true,
            "--only" => {
                let v = it.next().ok_or("--only: give names")?;
                o.only = Some(v.split(',').map(str::to_owned).collect());
            }
            "--cases" => {
                let v = it.next().ok_or("--cases: give case ids")?;
                o.cases = Some(v.split(',').map(str::to_owned).collect());
            }
            "--doc" => o.doc = Some(PathBuf::from(it.next().ok_or("--doc: give a path")?)),
            other => return Err(format!("compare: unknown option {other}")),
        }
    }
    Ok(o)
}

fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs a build step, its output going to our stderr; the error says what failed.
fn step(what: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("tlcp-bench: {what}");
    let status = cmd
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {status}"))
    }
}

fn build(root: &Path, skip: bool) -> Result<(PathBuf, Vec<Contender>), String> {
    let release = root.join("target").join("release");
    let tlcp = release.join("tlcp");
    let lsrs_dir = root.join("bench").join("lightstreamer-rs");
    let lsrs = lsrs_dir
        .join("target")
        .join("release")
        .join("lightstreamer-rs-contender");
    let mut lsrs_err = None;
    let mut interop_err = None;
    if !skip {
        step(
            "building tlcp (release)",
            Command::new(cargo()).current_dir(root).args([
                "build",
                "--release",
                "--locked",
                "-p",
                "tlcp-cli",
            ]),
        )?;
        lsrs_err = step(
            "building bench/lightstreamer-rs (release)",
            Command::new(cargo())
                .current_dir(&lsrs_dir)
                // Its own target dir and lock file, whatever the caller's environment says.
                .env_remove("CARGO_TARGET_DIR")
                .args(["build", "--release", "--locked"]),
        )
        .err();
        interop_err = step(
            "installing the official clients (interop/setup.sh)",
            Command::new("bash").arg(root.join("interop").join("setup.sh")),
        )
        .err();
    }
    if !tlcp.exists() {
        return Err(format!("{} is missing", tlcp.display()));
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let own = |name: &'static str| Contender {
        name,
        program: me.clone(),
        prefix: vec!["contender".into(), name.into()],
        unavailable: None,
    };
    let missing = |p: &Path, err: &Option<String>| {
        err.clone()
            .or_else(|| (!p.exists()).then(|| format!("{} is missing (not built)", p.display())))
    };
    let node_lib = root.join("interop/node/node_modules/lightstreamer-client-node");
    let py = root.join("interop/python/.venv/bin/python");
    let contenders = vec![
        own("tlcp-client"),
        own("tlcp-client-busy-poll"),
        Contender {
            name: "lightstreamer-rs",
            program: lsrs.clone(),
            prefix: vec![],
            unavailable: missing(&lsrs, &lsrs_err),
        },
        Contender {
            name: "official-node",
            program: PathBuf::from("node"),
            prefix: vec![root.join("bench/node/contender.js").display().to_string()],
            unavailable: missing(&node_lib, &interop_err),
        },
        Contender {
            name: "official-python",
            program: py.clone(),
            prefix: vec![root.join("bench/python/contender.py").display().to_string()],
            unavailable: missing(&py, &interop_err),
        },
        own("raw-decode"),
        own("raw-split"),
    ];
    Ok((tlcp, contenders))
}

/// The 1-minute load average.
pub(crate) fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// A running `tlcp serve`, and the cut times it printed.
struct Server {
    child: Child,
    url: String,
    cuts_us: Arc<Mutex<Vec<i64>>>,
}

impl Server {
    fn start(tlcp: &Path, case: &Case, log: &Path) -> Result<Server, String> {
        let mut cmd = Command::new(tlcp);
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--feed-rate",
            &case.feed_rate,
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(log)
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        );
        if let Some(s) = case.cut_every {
            cmd.args(["--cut-streams-every", &s.to_string()]);
        }
        let mut child = cmd.spawn().map_err(|e| format!("tlcp serve: {e}"))?;
        let stdout = child.stdout.take().ok_or("tlcp serve: no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(url) = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_owned)
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "tlcp serve did not say where it listens: {first:?}"
            ));
        };
        let cuts_us: Arc<Mutex<Vec<i64>>> = Arc::default();
        let cuts = cuts_us.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["event"] == "cut"
                    && let Some(t) = v["at_us"].as_i64()
                    && let Ok(mut c) = cuts.lock()
                {
                    c.push(t);
                }
            }
        });
        Ok(Server {
            child,
            url,
            cuts_us,
        })
    }

    fn stop(mut self) -> Vec<i64> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.cuts_us.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// Runs one contender once; returns its JSON result (with `load1` and, for recovery, the
/// analysis of the cuts), or a harness error.
fn run_once(tlcp: &Path, c: &Contender, case: &Case, rep: usize, logs: &Path) -> Value {
    let base = format!("{}-{}-{rep}", case.id, c.name);
    let load = load1();
    let fail = |e: String| json!({"contender": c.name, "ok": false, "harness_error": true, "error": e, "load1": load});
    if let Some(why) = &c.unavailable {
        return json!({"contender": c.name, "ok": false, "unavailable": true, "error": why, "load1": load});
    }
    let server = match Server::start(tlcp, case, &logs.join(format!("{base}.server.log"))) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut cmd = Command::new(&c.program);
    cmd.args(&c.prefix)
        .args([
            "--url",
            &server.url,
            "--scenario",
            case.scenario,
            "--mode",
            if case.distinct { "distinct" } else { "merge" },
            "--items",
            &case.items.to_string(),
            "--warmup",
            &case.warmup.to_string(),
            "--duration",
            &case.duration.to_string(),
            "--timeout",
            &case.timeout.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(logs.join(format!("{base}.stderr")))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        );
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            server.stop();
            return fail(format!("cannot start {}: {e}", c.program.display()));
        }
    };
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    });
    let limit = Duration::from_secs_f64(case.warmup + case.duration + case.timeout + 15.0);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let out = reader.join().unwrap_or_default();
    let cuts = server.stop();
    let Some(status) = status else {
        return fail(format!(
            "killed after {:.0} s without finishing",
            limit.as_secs_f64()
        ));
    };
    let Some(mut v) = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
    else {
        let err = std::fs::read_to_string(logs.join(format!("{base}.stderr"))).unwrap_or_default();
        let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return fail(format!("no result line ({status}); stderr: {tail}"));
    };
    v["load1"] = json!(load);
    v["wall_s"] = json!(wall);
    if case.scenario == "recovery" {
        let arrivals: Vec<i64> = v["arrivals_us"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        let end_us = v["end_us"].as_i64().unwrap_or(i64::MAX);
        v["recovery"] = analyse_cuts(&cuts, &arrivals, end_us);
        if let Some(o) = v.as_object_mut() {
            o.remove("arrivals_us");
        }
    }
    v
}

/// For each cut the contender saw (after its first update, before its end): the end of
/// the longest silence between the cut and the next cut (or, when nothing comes before the
/// next cut, the first update after it) minus the cut time; a cut followed by no update at
/// all is "never recovered".
fn analyse_cuts(cuts: &[i64], arrivals: &[i64], end_us: i64) -> Value {
    let Some(&first) = arrivals.first() else {
        return json!({"cuts": 0, "measured": 0, "never_recovered": 0, "recovery_ms": [], "note": "no update at all"});
    };
    let seen: Vec<i64> = cuts
        .iter()
        .copied()
        .filter(|&t| t > first && t < end_us)
        .collect();
    let mut times = vec![];
    let mut never = 0;
    for (i, &t) in seen.iter().enumerate() {
        let next = seen.get(i + 1).copied().unwrap_or(end_us);
        let start = arrivals.partition_point(|&a| a <= t);
        let in_period: Vec<i64> = arrivals[start..]
            .iter()
            .copied()
            .take_while(|&a| a < next)
            .collect();
        if in_period.is_empty() {
            match arrivals.get(start) {
                Some(&a) => times.push((a - t) as f64 / 1000.0),
                None => never += 1,
            }
            continue;
        }
        let mut prev = t;
        let mut best = (0i64, in_period[0]);
        for &a in &in_period {
            if a - prev > best.0 {
                best = (a - prev, a);
            }
            prev = a;
        }
        times.push((best.1 - t) as f64 / 1000.0);
    }
    json!({"cuts": seen.len(), "measured": times.len(), "never_recovered": never, "recovery_ms": times})
}

/// Entry point of `compare`.
pub(crate) fn run(argv: Vec<String>) -> Result<(), String> {
    let opts = parse(argv)?;
    let root = root();
    let t0 = Instant::now();
    let (tlcp, mut contenders) = build(&root, opts.skip_build)?;
    if let Some(only) = &opts.only {
        contenders.retain(|c| only.iter().any(|o| o == c.name));
    }
    let out_dir = root.join("target").join("tlcp-bench");
    let logs = out_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let load_start = load1();
    let started = report::utc_now();
    let mut cases = plan(opts.quick);
    if let Some(only) = &opts.cases {
        cases.retain(|c| only.iter().any(|o| o == c.id));
    }
    let mut results = vec![];
    let built_s = t0.elapsed().as_secs_f64();
    for case in &cases {
        // Rounds: every contender once, then again, so that a change of the machine's
        // load during the case spreads over all of them instead of hitting one.
        let who: Vec<&Contender> = contenders
            .iter()
            .filter(|c| case.contenders.contains(&c.name))
            .collect();
        let mut runs: Vec<Vec<Value>> = vec![vec![]; who.len()];
        for rep in 0..case.reps {
            for (c, runs) in who.iter().zip(runs.iter_mut()) {
                if c.unavailable.is_some() && !runs.is_empty() {
                    continue;
                }
                let v = run_once(&tlcp, c, case, rep, &logs);
                eprintln!(
                    "tlcp-bench: {} {} #{}: {}",
                    case.id,
                    c.name,
                    rep + 1,
                    report::one_line(case, &v)
                );
                runs.push(v);
            }
        }
        let mut per = serde_json::Map::new();
        for (c, runs) in who.iter().zip(runs) {
            per.insert(c.name.to_owned(), Value::Array(runs));
        }
        results.push(json!({
            "id": case.id,
            "title": case.title,
            "scenario": case.scenario,
            "mode": if case.distinct { "DISTINCT" } else { "MERGE" },
            "items": case.items,
            "feed_rate": case.feed_rate,
            "cut_every_s": case.cut_every,
            "warmup_s": case.warmup,
            "duration_s": case.duration,
            "timeout_s": case.timeout,
            "reps": case.reps,
            "runs": per,
        }));
    }
    let all = json!({
        "quick": opts.quick,
        "started": started,
        "machine": report::machine(),
        "load1_start": load_start,
        "load1_end": load1(),
        "build_s": built_s,
        "total_s": t0.elapsed().as_secs_f64(),
        "cases": results,
    });
    // A partial run (--only, --cases) neither replaces the full run's results nor, unless
    // --doc names a file, the section of docs/benchmarks.md.
    let partial = opts.only.is_some() || opts.cases.is_some();
    let json_path = out_dir.join(if opts.quick {
        "compare-quick.json"
    } else if partial {
        "compare-partial.json"
    } else {
        "compare.json"
    });
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: {e}", json_path.display()))?;
    eprintln!("tlcp-bench: raw results in {}", json_path.display());
    eprintln!(
        "tlcp-bench: {:.0} s in all ({:.0} s building)",
        t0.elapsed().as_secs_f64(),
        built_s
    );
    if opts.quick {
        let problems = report::sanity(&all);
        if problems.is_empty() {
            eprintln!("tlcp-bench: quick check passed (figures not judged)");
            return Ok(());
        }
        for p in &problems {
            eprintln!("tlcp-bench: FAILED: {p}");
        }
        return Err(format!("{} problem(s) in the quick run", problems.len()));
    }
    if partial && opts.doc.is_none() {
        eprintln!(
            "tlcp-bench: partial run: docs/benchmarks.md left as it is (--doc PATH writes one)"
        );
        println!("{}", report::markdown(&all, &json_path, &root));
        return Ok(());
    }
    write_doc(&all, &json_path, &root, opts.doc)
}

fn write_doc(
    all: &Value,
    json_path: &Path,
    root: &Path,
    doc: Option<PathBuf>,
) -> Result<(), String> {
    let section = report::markdown(all, json_path, root);
    let doc = doc.unwrap_or_else(|| root.join("docs").join("benchmarks.md"));
    report::replace_section(&doc, &section)?;
    eprintln!("tlcp-bench: wrote the comparison into {}", doc.display());
    println!("{section}");
    Ok(())
}

/// `tlcp-bench report [JSON] [--doc PATH]`: writes the section again from saved results
/// (default `target/tlcp-bench/compare.json`), e.g. after changing the report's layout.
pub(crate) fn report_again(argv: Vec<String>) -> Result<(), String> {
    let root = root();
    let mut json_path = root.join("target").join("tlcp-bench").join("compare.json");
    let mut doc = None;
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--doc" => doc = Some(PathBuf::from(it.next().ok_or("--doc: give a path")?)),
            other => json_path = PathBuf::from(other),
        }
    }
    let text =
        std::fs::read_to_string(&json_path).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let all: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json_path.display()))?;
    write_doc(&all, &json_path, &root, doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_time_is_the_end_of_the_longest_silence_after_a_cut() {
        // An update every ms; cut at 10_000 us: two updates already read arrive just after
        // it, then nothing until 30_000 (recovered), cut again at 50_000, nothing after.
        let mut arrivals: Vec<i64> = (1..=10).map(|i| i * 1000).collect();
        arrivals.extend([10_100, 10_200]);
        arrivals.extend((30..=45).map(|i| i * 1000));
        let v = analyse_cuts(&[10_000, 50_000, 90_000], &arrivals, 60_000);
        assert_eq!(
            v["cuts"], 2,
            "the cut after the end is not one the contender saw"
        );
        assert_eq!(v["never_recovered"], 1);
        assert_eq!(v["recovery_ms"], json!([20.0]));
        // No update between two cuts: the first update after the cut counts.
        let v = analyse_cuts(&[1_000, 2_000], &[500, 3_500], 4_000);
        assert_eq!(v["recovery_ms"], json!([2.5, 1.5]));
        assert_eq!(v["never_recovered"], 0);
    }
}
