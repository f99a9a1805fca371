//! Every capture in `captures/` was made by real clients, servers and middleboxes (captures/make.sh);
//! `captures/expected.tsv` says what each connection is, by construction. The analyzer must agree.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

struct Row {
    file: String,
    server: String,
    nth: usize,
    outcome: String,
    cause: String,
    ended_by: String,
    alert: String,
    sni: String,
    http_status: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(common::root().join("captures/expected.tsv"))
        .expect("captures/expected.tsv");
    let mut rows = Vec::new();
    let mut header: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') && !header.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if header.is_empty() {
            header = cols
                .iter()
                .map(|c| c.trim_start_matches('#').trim().to_string())
                .collect();
            continue;
        }
        let get = |name: &str| -> String {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| cols.get(i))
                .map_or(String::new(), |s| s.trim().to_string())
        };
        rows.push(Row {
            file: get("file"),
            server: get("server"),
            nth: get("nth").parse().unwrap_or(1),
            outcome: get("outcome"),
            cause: get("cause"),
            ended_by: get("ended_by"),
            alert: get("alert"),
            sni: get("sni"),
            http_status: get("http_status"),
        });
    }
    rows
}

/// A verdict field as the manifest writes it. `alert` is the decisive alert or, when no alert decided
/// the outcome, the last plaintext alert seen (e.g. a server's answer to a client that left).
fn field(v: &Value, k: &str) -> String {
    if k == "alert" && v[k].is_null() {
        if let Some(last) = v["alerts"].as_array().and_then(|a| a.last()) {
            return last["name"].as_str().unwrap_or("-").to_string();
        }
    }
    match &v[k] {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_scenario_gets_its_expected_verdict() {
    let rows = rows();
    assert!(
        rows.len() >= 20,
        "expected at least 20 scenario rows, found {}",
        rows.len()
    );
    let mut cache: BTreeMap<String, common::Run> = BTreeMap::new();
    let mut failures = Vec::new();
    for r in &rows {
        let run = cache.entry(r.file.clone()).or_insert_with(|| {
            let path = common::root().join("captures").join(&r.file);
            assert!(path.exists(), "missing capture {}", path.display());
            common::analyze_json(&[&path], &[])
        });
        assert_ne!(run.status, 2, "{}: exit 2: {}", r.file, run.stderr);
        let conns: Vec<&Value> = run
            .connections
            .iter()
            .filter(|c| c["server"] == r.server.as_str())
            .collect();
        let Some(c) = conns.get(r.nth - 1) else {
            failures.push(format!(
                "{}: no connection #{} to {} (servers seen: {:?})",
                r.file,
                r.nth,
                r.server,
                run.connections
                    .iter()
                    .map(|c| c["server"].to_string())
                    .collect::<Vec<_>>()
            ));
            continue;
        };
        let checks = [
            ("outcome", &r.outcome),
            ("cause", &r.cause),
            ("ended_by", &r.ended_by),
            ("alert", &r.alert),
            ("sni", &r.sni),
            ("http_status", &r.http_status),
        ];
        for (k, want) in checks {
            if want.is_empty() {
                continue;
            }
            let got = field(c, k);
            if &got != want {
                failures.push(format!(
                    "{} {} #{}: {k} = {got}, expected {want}\n    explanation: {}",
                    r.file, r.server, r.nth, c["explanation"]
                ));
            }
        }
        // Every failed verdict carries evidence with frame numbers, including the decisive one.
        if c["class"] == "failed" {
            let ev = c["evidence"].as_array().map_or(0, Vec::len);
            if ev == 0 || c["decisive_frame"].is_null() {
                failures.push(format!(
                    "{} {}: failed verdict without evidence or decisive frame",
                    r.file, r.server
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
