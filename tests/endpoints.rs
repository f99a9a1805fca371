//! Connections to the endpoints the Azure Monitor Agent and the Azure Arc agent need are named as
//! such (`endpoint`), and a failed one says what to change: allow the name (a block), or exempt it
//! from TLS inspection (a rejected inspection certificate). The shipped captures were made with the
//! AMA control endpoint's name as SNI (captures/make.sh) and with `api.contoso.test`, which is none.

mod common;

use serde_json::Value;

fn only(name: &str) -> Value {
    let run = common::analyze_json(&[&common::root().join("captures").join(name)], &[]);
    assert_eq!(run.connections.len(), 1, "{name}");
    run.connections[0].clone()
}

#[test]
fn a_blocked_agent_endpoint_says_what_to_allow() {
    let c = only("azfw_close_after_ch.pcap");
    assert_eq!(c["cause"], "firewall_block");
    assert_eq!(c["endpoint"]["service"], "Azure Monitor Agent");
    assert_eq!(c["endpoint"]["service_tag"], "AzureMonitor");
    assert!(c["endpoint"]["cloud"].is_null());
    let e = c["explanation"].as_str().unwrap_or_default();
    assert!(
        e.contains("global.handler.control.monitor.azure.com is an Azure Monitor Agent endpoint (control service AMCS"),
        "{e}"
    );
    assert!(
        e.ends_with("Allow HTTPS to global.handler.control.monitor.azure.com in the firewall or proxy (or, in a network rule, the service tag AzureMonitor)."),
        "{e}"
    );
}

#[test]
fn an_inspected_agent_endpoint_says_to_exempt_it() {
    let c = only("cert_rejected_tls12.pcap");
    assert_eq!(c["cause"], "certificate_rejected");
    let e = c["explanation"].as_str().unwrap_or_default();
    assert!(e.ends_with("Exempt it from TLS inspection."), "{e}");
}

#[test]
fn the_plain_http_deny_of_a_pki_host_says_port_80() {
    let c = only("http_470.pcap");
    assert_eq!(c["endpoint"]["service"], "Microsoft PKI");
    let e = c["explanation"].as_str().unwrap_or_default();
    assert!(
        e.contains("Allow HTTP (port 80) to www.microsoft.com"),
        "{e}"
    );
}

/// Healthy connections carry the endpoint but no advice; names that are none carry nothing.
#[test]
fn only_failed_known_endpoints_get_advice() {
    for f in common::shipped_captures() {
        let run = common::analyze_json(&[&f], &[]);
        for c in &run.connections {
            let e = c["explanation"].as_str().unwrap_or_default();
            let advised = e.contains("the agent needs it");
            let sni = c["sni"].as_str();
            if sni == Some("api.contoso.test") {
                assert!(c["endpoint"].is_null(), "{}: {c}", f.display());
            }
            if sni == Some("global.handler.control.monitor.azure.com") {
                assert_eq!(
                    c["endpoint"]["service"],
                    "Azure Monitor Agent",
                    "{}",
                    f.display()
                );
            }
            if advised {
                assert_eq!(c["class"], "failed", "{}: {e}", f.display());
                assert!(!c["endpoint"].is_null(), "{}: {e}", f.display());
            }
        }
    }
}

/// `revocation_blocked.pcap`: a real client checking revocation (openssl -crl_check -crl_download)
/// whose CRL fetch got Azure Firewall's 470: the summary says revocation checks were blocked. The
/// deny page alone (`http_470.pcap`) or a rejected certificate alone (`cert_rejected_tls12.pcap`)
/// does not.
#[test]
fn a_blocked_crl_fetch_and_a_rejected_certificate_are_a_blocked_revocation_check() {
    let f = common::root().join("captures/revocation_blocked.pcap");
    let run = common::analyze_json(&[&f], &[]);
    let s = run.summary.expect("summary");
    let r = &s["revocation_check_blocked"];
    assert_eq!(r["fetches_failed"], 1, "{s}");
    assert_eq!(r["certificates_rejected"], 1, "{s}");
    assert_eq!(r["hosts"], serde_json::json!(["crl.contoso.test"]));
    let tls = run
        .connections
        .iter()
        .find(|c| c["server"] == "198.51.100.20:443")
        .expect("the TLS connection");
    assert_eq!(tls["alert"], "unknown_ca");
    let e = tls["explanation"].as_str().unwrap_or_default();
    assert!(!e.contains("Exempt it from TLS inspection"), "{e}");
    assert!(e.contains("its revocation checks"), "{e}");
    let (_, text, _) = common::tlsautopsy(&["analyze", f.to_str().unwrap_or_default()]);
    assert!(
        text.contains("revocation checks blocked: 1 certificate or revocation fetch over HTTP (crl.contoso.test) failed"),
        "{text}"
    );
    for alone in ["http_470.pcap", "cert_rejected_tls12.pcap"] {
        let run = common::analyze_json(&[&common::root().join("captures").join(alone)], &[]);
        let s = run.summary.expect("summary");
        assert!(s["revocation_check_blocked"].is_null(), "{alone}: {s}");
    }
}
