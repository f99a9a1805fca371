//! Inline SVG for the HTML report: a ladder diagram per connection and the outcome chart. Plain SVG
//! elements with explicit closing tags (HTML parsers do not know SVG's self-closing ones), no ids
//! (several diagrams share one page), text escaped by maud.

use std::net::IpAddr;

use maud::{html, Markup};

use super::{endpoint, ConnReport, Summary};
use crate::tcp::{Direction, LadderRow};
use crate::verdict::{EndedBy, OutcomeClass, Party};

const W: f64 = 960.0;
const ROW: f64 = 36.0;
const TOP: f64 = 70.0;
const X_CLIENT: f64 = 220.0;
const X_MIDDLE: f64 = 560.0;
const X_SERVER: f64 = 900.0;
/// Approximate width of one character of the 12px monospace labels.
const CHAR_W: f64 = 7.3;

const C_TO_SERVER: &str = "#1f5fa8";
const C_TO_CLIENT: &str = "#2a7a2a";
const C_RESET: &str = "#b35900";
const C_DECISIVE: &str = "#c00000";

/// The label of a ladder row: flags, length, TTL, TLS message names.
pub fn row_label(row: &LadderRow) -> String {
    let mut label = row.flags.names(",");
    if row.len > 0 {
        label.push_str(&format!(" len={}", row.len));
    }
    if row.dir == Direction::ToClient || row.flags.rst() {
        label.push_str(&format!(" ttl={}", row.ttl));
    }
    for l in row.labels() {
        label.push_str(&format!(" | {l}"));
    }
    if row.duplicate {
        label.push_str(" (duplicate)");
    }
    label
}

fn fit(s: &str, width: f64) -> String {
    let max = ((width / CHAR_W) as usize).max(8);
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

struct Arrow {
    y: f64,
    from: f64,
    to: f64,
    color: &'static str,
    width: f64,
    dashed: bool,
    label: String,
    left: String,
    decisive: bool,
}

fn arrow(a: &Arrow) -> Markup {
    let dir = if a.to > a.from { 1.0 } else { -1.0 };
    let tip = a.to - dir * 2.0;
    let base = tip - dir * 10.0;
    let head = format!(
        "{},{} {},{} {},{}",
        f1(tip),
        f1(a.y),
        f1(base),
        f1(a.y - 5.0),
        f1(base),
        f1(a.y + 5.0)
    );
    let mid = (a.from + a.to) / 2.0;
    let shown = fit(&a.label, (a.to - a.from).abs() - 16.0);
    html! {
        g class=(if a.decisive { "row decisive" } else { "row" }) {
            title { (a.label) }
            @if a.decisive {
                rect x="2" y=(f1(a.y - 25.0)) width=(f1(W - 4.0)) height=(f1(ROW - 2.0)) fill="#fde4e4" rx="3" {}
            }
            text x="8" y=(f1(a.y - 3.0)) font-size="11" fill="#444" { (a.left) }
            @if a.decisive {
                text x="8" y=(f1(a.y + 9.0)) font-size="11" font-weight="bold" fill=(C_DECISIVE) { "decisive" }
            }
            line x1=(f1(a.from)) y1=(f1(a.y)) x2=(f1(base)) y2=(f1(a.y)) stroke=(a.color)
                stroke-width=(f1(a.width)) stroke-dasharray=(if a.dashed { "5,4" } else { "none" }) {}
            polygon points=(head) fill=(a.color) {}
            text x=(f1(mid)) y=(f1(a.y - 6.0)) font-size="12" text-anchor="middle" fill="#111" { (shown) }
        }
    }
}

/// The ladder diagram of a connection: client and server lanes (and a middlebox lane when a
/// middlebox ended it or an ICMP error came from another host), one arrow per packet with its time
/// since the first packet, flags and TLS message names; the decisive packet highlighted.
pub fn ladder(c: &ConnReport<'_>) -> Markup {
    let conn = c.conn;
    let v = c.verdict;
    let t = &conn.tcp;
    let start = t.first.ts;
    let server_ip: IpAddr = t.server.ip();
    let icmp_elsewhere = conn
        .icmp
        .as_ref()
        .is_some_and(|(_, e)| e.ip.src != server_ip);
    let middle = v.ended_by == EndedBy::Middlebox || icmp_elsewhere;
    let from_middlebox: Vec<_> = v
        .evidence
        .iter()
        .filter(|e| e.from == Party::Middlebox)
        .map(|e| e.at)
        .collect();
    let frame_label = |file: u16, frame: u64| {
        if file > 0 || c.files.len() > 1 {
            format!("{}:{frame}", file + 1)
        } else {
            frame.to_string()
        }
    };
    let mut arrows: Vec<Arrow> = Vec::new();
    let mut gaps: Vec<(f64, u64)> = Vec::new();
    let head_len = t.ladder.head.len();
    let mut y = TOP + 26.0;
    // The ICMP error goes where it arrived, among the packets.
    let mut icmp = conn.icmp.as_ref();
    let icmp_arrow = |y: f64, at: &crate::tcp::FrameRef, e: &crate::decode::IcmpError| {
        let decisive = Some(*at) == v.decisive;
        Arrow {
            y,
            from: if middle { X_MIDDLE } else { X_SERVER },
            to: X_CLIENT,
            color: if decisive { C_DECISIVE } else { C_RESET },
            width: if decisive { 2.8 } else { 1.4 },
            dashed: false,
            label: format!("{} from {}", e.describe(), e.ip.src),
            left: format!(
                "{} +{:.3} ms",
                frame_label(at.file(), at.frame),
                at.ts.since(start) as f64 / 1e6
            ),
            decisive,
        }
    };
    for (i, row) in t.ladder.rows().enumerate() {
        if i == head_len && t.ladder.omitted > 0 {
            gaps.push((y, t.ladder.omitted));
            y += ROW;
        }
        if let Some((at, e)) = icmp.filter(|(at, _)| at.seq() < row.at.seq()) {
            arrows.push(icmp_arrow(y, at, e));
            y += ROW;
            icmp = None;
        }
        let decisive = Some(row.at) == v.decisive && !row.duplicate;
        let (from, to) = match row.dir {
            Direction::ToServer => (X_CLIENT, X_SERVER),
            Direction::ToClient if middle && from_middlebox.contains(&row.at) => {
                (X_MIDDLE, X_CLIENT)
            }
            Direction::ToClient => (X_SERVER, X_CLIENT),
        };
        let color = if decisive {
            C_DECISIVE
        } else if row.flags.rst() {
            C_RESET
        } else if row.dir == Direction::ToServer {
            C_TO_SERVER
        } else {
            C_TO_CLIENT
        };
        arrows.push(Arrow {
            y,
            from,
            to,
            color,
            width: if decisive { 2.8 } else { 1.4 },
            dashed: row.duplicate,
            label: row_label(row),
            left: format!(
                "{} +{:.3} ms",
                frame_label(row.at.file(), row.at.frame),
                row.at.ts.since(start) as f64 / 1e6
            ),
            decisive,
        });
        y += ROW;
    }
    if let Some((at, e)) = icmp {
        arrows.push(icmp_arrow(y, at, e));
        y += ROW;
    }
    let height = y + 4.0;
    let lanes: Vec<(f64, &str, String)> = {
        let mut l = vec![
            (X_CLIENT, "client", endpoint(&t.client)),
            (X_SERVER, "server", endpoint(&t.server)),
        ];
        if middle {
            l.push((X_MIDDLE, "middlebox", "in the path".to_string()));
        }
        l
    };
    let aria = format!(
        "Ladder diagram of connection {}: {} packets between {} and {}",
        conn.id,
        arrows.len(),
        endpoint(&t.client),
        endpoint(&t.server)
    );
    html! {
        svg class="ladder" data-conn=(conn.id) width=(f1(W)) height=(f1(height))
            viewBox={ "0 0 " (f1(W)) " " (f1(height)) } role="img" aria-label=(aria) {
            rect x="0" y="0" width=(f1(W)) height=(f1(height)) fill="#ffffff" {}
            text x="8" y="20" font-size="11" fill="#666" { "frame, time" }
            @for (x, name, addr) in &lanes {
                @let (ax, anchor) = if *x == X_SERVER { (W - 4.0, "end") } else { (*x, "middle") };
                text x=(f1(*x)) y="20" font-size="13" font-weight="bold" text-anchor="middle" fill="#111" { (name) }
                text x=(f1(ax)) y="38" font-size="11" text-anchor=(anchor) fill="#444" { (fit(addr, 330.0)) }
                line x1=(f1(*x)) y1=(f1(TOP - 20.0)) x2=(f1(*x)) y2=(f1(height - 2.0)) stroke="#999" stroke-width="1.2" {}
            }
            @for a in &arrows { (arrow(a)) }
            @for (gy, n) in &gaps {
                text x=(f1((X_CLIENT + X_SERVER) / 2.0)) y=(f1(*gy - 4.0)) font-size="12" text-anchor="middle" fill="#666" {
                    "… " (n) " packets not shown …"
                }
            }
        }
    }
}

/// A horizontal bar chart of the outcomes, coloured by class.
pub fn outcome_chart(s: &Summary) -> Markup {
    let rows: Vec<(&'static str, OutcomeClass, u64)> = s
        .counts
        .outcomes
        .iter()
        .map(|(o, n)| (o.as_str(), o.class(), *n))
        .collect();
    let max = rows.iter().map(|r| r.2).max().unwrap_or(1).max(1) as f64;
    let label_w = 230.0;
    let bar_w = 460.0;
    let h = 26.0;
    let height = (rows.len() as f64 * h + 34.0).max(60.0);
    let width = label_w + bar_w + 80.0;
    let legend = [
        ("failed", "#c0392b"),
        ("ok", "#2e8b57"),
        ("undetermined", "#8a8a8a"),
    ];
    html! {
        svg class="chart" width=(f1(width)) height=(f1(height)) viewBox={ "0 0 " (f1(width)) " " (f1(height)) }
            role="img" aria-label="Connections per outcome" {
            @for (i, (name, color)) in legend.iter().enumerate() {
                rect x=(f1(label_w + i as f64 * 120.0)) y="4" width="12" height="12" fill=(color) {}
                text x=(f1(label_w + 16.0 + i as f64 * 120.0)) y="14" font-size="12" fill="#333" { (name) }
            }
            @if rows.is_empty() {
                text x="8" y="44" font-size="13" fill="#666" { "no TCP connection" }
            }
            @for (i, (name, class, n)) in rows.iter().enumerate() {
                @let y = 28.0 + i as f64 * h;
                @let w = (*n as f64 / max * bar_w).max(2.0);
                @let color = match class { OutcomeClass::Failed => "#c0392b", OutcomeClass::Ok => "#2e8b57", OutcomeClass::Undetermined => "#8a8a8a" };
                g {
                    title { (name) ": " (n) }
                    text x=(f1(label_w - 8.0)) y=(f1(y + 14.0)) font-size="12" text-anchor="end" fill="#111" { (name) }
                    rect x=(f1(label_w)) y=(f1(y)) width=(f1(w)) height=(f1(h - 8.0)) fill=(color) rx="2" {}
                    text x=(f1(label_w + w + 6.0)) y=(f1(y + 14.0)) font-size="12" fill="#111" { (n) }
                }
            }
        }
    }
}
