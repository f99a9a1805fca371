//! The HTML report, as a browser shows it: headless Chromium (Debian's `chromium`, installed by
//! .ci/run) loads it from a file URL with no network; the page's own script counts the ladder
//! diagrams into the DOM, which `--dump-dom` prints; the console must stay free of errors; a
//! screenshot is kept under target/ as a test artifact. Hostile strings from the wire (an SNI and an
//! HTTP body holding `<script>`) must show as text and never run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-tests");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn chromium() -> Option<&'static str> {
    for c in ["chromium", "chromium-browser"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    let msg = "chromium is not installed: the HTML report tests need Debian's `chromium` (apt-get install -y chromium; .ci/run installs it)";
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("skipped: {msg}");
    None
}

/// What Chromium made of a page.
struct Rendered {
    dom: String,
    console: Vec<String>,
}

fn render(browser: &str, page: &Path, screenshot: Option<&Path>) -> Rendered {
    let profile = tmp(&format!(
        "profile-{}",
        page.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let run = |extra: &[String]| {
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--no-first-run",
                "--no-proxy-server",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let out = run(&["--dump-dom".to_string()]);
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    if let Some(shot) = screenshot {
        run(&[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2600".to_string(),
            "--hide-scrollbars".to_string(),
        ]);
    }
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).to_string(),
        console,
    }
}

fn root_attr(dom: &str, name: &str) -> Option<String> {
    let start = dom.find("<html")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let i = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(tag[i..i + tag[i..].find('"')?].to_string())
}

/// Assert the page ran its script, and only that, without console errors.
fn assert_clean(r: &Rendered) {
    assert_eq!(
        root_attr(&r.dom, "data-ready").as_deref(),
        Some("yes"),
        "the page's script did not run"
    );
    let bad: Vec<&String> = r
        .console
        .iter()
        .filter(|l| !l.contains("tlsautopsy report ready"))
        .collect();
    assert!(bad.is_empty(), "console messages: {bad:#?}");
    assert!(
        r.console
            .iter()
            .any(|l| l.contains("tlsautopsy report ready")),
        "the console log was not captured: {:?}",
        r.console
    );
}

#[test]
fn report_renders_in_chromium_with_one_ladder_per_failed_connection() {
    let files: Vec<PathBuf> = [
        "injected_rst.pcap",
        "syn_unreachable_v6.pcap",
        "cert_rejected_tls12.pcap",
        "http_470.pcap",
        "tls13_ok.pcap",
        "proxy_407.pcap",
        "in_progress.pcap",
    ]
    .iter()
    .map(|n| common::root().join("captures").join(n))
    .collect();
    let page = tmp("report.html");
    let mut args = vec!["analyze", "--json", "--report", page.to_str().unwrap()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let (status, stdout, stderr) = common::tlsautopsy(&args);
    assert_eq!(status, 1, "{stderr}");
    let failed = stdout
        .lines()
        .filter(|l| l.contains("\"type\":\"connection\"") && l.contains("\"class\":\"failed\""))
        .count();
    assert_eq!(failed, 5);
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch, one inline script.
    for bad in ["src=", "<link", "url(", "@import", "<iframe", "<object"] {
        assert!(!html.contains(bad), "the report contains {bad:?}");
    }
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"));
    assert_eq!(html.matches("<svg class=\"ladder\"").count(), failed);

    let Some(browser) = chromium() else {
        return;
    };
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let r = render(browser, &page, Some(&shot));
    assert_clean(&r);
    assert_eq!(
        root_attr(&r.dom, "data-ladders"),
        Some(failed.to_string()),
        "ladders counted by the page"
    );
    assert_eq!(r.dom.matches("<svg class=\"ladder\"").count(), failed);
    // Every failed connection's section is there, with its filter.
    assert_eq!(r.dom.matches("<article class=\"conn\"").count(), failed);
    assert!(r.dom.contains("ip.addr == 192.0.2.10"));
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot of {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

/// `s` with `from` replaced by `to` (same length) everywhere; panics when absent.
fn replace_same_len(s: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len(), "{:?}", String::from_utf8_lossy(to));
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= s.len() {
        if &s[i..i + from.len()] == from {
            s[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(n > 0, "{:?} not found", String::from_utf8_lossy(from));
}

/// A hostile string of exactly `len` bytes: a script that would mark the page if it ran.
fn hostile(tag: &str, len: usize) -> Vec<u8> {
    let head = format!("<script>document.title='{tag}'");
    let tail = "</script>";
    let pad = len - head.len() - tail.len();
    format!("{head}{}{tail}", " ".repeat(pad)).into_bytes()
}

#[test]
fn hostile_sni_and_http_body_are_shown_as_text() {
    // A real capture (server answers the ClientHello with an HTTP 400 page), its SNI and its HTTP
    // body rewritten in place with markup of the same length. tlsautopsy does not verify checksums.
    let mut bytes =
        std::fs::read(common::root().join("captures/not_tls_http_server.pcap")).unwrap();
    let sni = b"global.handler.control.monitor.azure.com";
    replace_same_len(&mut bytes, sni, &hostile("S1", sni.len()));
    let body = b"<center><h1>400 Bad Request</h1></center>";
    replace_same_len(&mut bytes, body, &hostile("B1", body.len()));
    let cap = tmp("hostile.pcap");
    std::fs::write(&cap, &bytes).unwrap();
    let page = tmp("hostile.html");
    let (status, stdout, stderr) = common::tlsautopsy(&[
        "analyze",
        "--report",
        page.to_str().unwrap(),
        cap.to_str().unwrap(),
    ]);
    assert_eq!(status, 1, "{stdout}{stderr}");
    assert!(stdout.contains("<script>document.title='S1'"), "{stdout}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script>document"),
        "unescaped markup in the report"
    );
    assert!(html.contains("&lt;script&gt;document.title='S1'"));
    assert!(html.contains("&lt;script&gt;document.title='B1'"));
    assert_eq!(html.matches("<script").count(), 1);

    let Some(browser) = chromium() else {
        return;
    };
    let r = render(browser, &page, None);
    assert_clean(&r);
    // The text is in the DOM as text, no injected element exists, and the title was not changed.
    assert!(r.dom.contains("&lt;script&gt;document.title='S1'"));
    assert!(r.dom.contains("&lt;script&gt;document.title='B1'"));
    assert_eq!(
        r.dom.matches("<script").count(),
        1,
        "an injected script element"
    );
    assert!(
        !r.dom.contains("<title>S1</title>") && !r.dom.contains("<title>B1</title>"),
        "an injected script ran"
    );
    assert_eq!(root_attr(&r.dom, "data-ladders").as_deref(), Some("1"));
}
