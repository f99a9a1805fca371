//! Endpoints the agents this tool is for must reach: the Azure Monitor Agent's and the Azure Arc
//! Connected Machine agent's, from Microsoft's network requirements
//! (`azure-monitor-agent-network-configuration.md`; `azure-arc/servers/network-requirements.md`; the
//! catalogue in `failure-signatures.md` §4). A name the client asked for (SNI, `CONNECT` target,
//! HTTP `Host`) is matched against them, so that a blocked connection says which agent function it
//! cuts off and what to allow, and the JSON line names the endpoint (`endpoint`).
//!
//! Azure Government and Azure China use other suffixes (`azure.us`, `azure.cn`,
//! `usgovcloudapi.net`, `chinacloudapi.cn`): those names match as their public-cloud twins and the
//! cloud is said.

use std::borrow::Cow;

/// One known endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// The agent or service: `Azure Monitor Agent`, `Azure Arc`...
    pub service: &'static str,
    /// What the agent uses it for.
    pub role: &'static str,
    /// The Azure service tag a firewall rule can allow it by, when there is one.
    pub service_tag: Option<&'static str>,
}

/// A match: the endpoint, and the sovereign cloud when the name was one's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    pub known: &'static Known,
    /// `Azure Government` or `Azure China`; `None` for the public cloud.
    pub cloud: Option<&'static str>,
}

const AMA: &str = "Azure Monitor Agent";
const ARC: &str = "Azure Arc";

/// Patterns: an exact name, `*.suffix` (one label or more before the suffix), or `prefix*.suffix`
/// (the first label starts with `prefix`). The first match wins: specific patterns come first.
static CATALOGUE: &[(&str, Known)] = &[
    (
        "global.handler.control.monitor.azure.com",
        Known {
            service: AMA,
            role: "control service AMCS, the agent's configuration",
            service_tag: Some("AzureMonitor"),
        },
    ),
    (
        "*.handler.control.monitor.azure.com",
        Known {
            service: AMA,
            role: "regional handler, the agent's data collection rules",
            service_tag: Some("AzureMonitor"),
        },
    ),
    (
        "global.prod.microsoftmetrics.com",
        Known {
            service: AMA,
            role: "metrics service",
            service_tag: Some("AzureMonitor"),
        },
    ),
    (
        "*.ods.opinsights.azure.com",
        Known {
            service: AMA,
            role: "Log Analytics workspace, log ingestion",
            service_tag: Some("AzureMonitor"),
        },
    ),
    (
        "*.ingest.monitor.azure.com",
        Known {
            service: AMA,
            role: "data collection endpoint, ingestion",
            service_tag: None,
        },
    ),
    (
        "*.monitoring.azure.com",
        Known {
            service: AMA,
            role: "custom metrics",
            service_tag: Some("AzureMonitor"),
        },
    ),
    (
        "management.azure.com",
        Known {
            service: "Azure Resource Manager",
            role: "Arc connect and disconnect, AMA custom metrics",
            service_tag: Some("AzureResourceManager"),
        },
    ),
    (
        "login.microsoftonline.com",
        Known {
            service: "Microsoft Entra ID",
            role: "sign-in, needed always by Azure Arc",
            service_tag: Some("AzureActiveDirectory"),
        },
    ),
    (
        "login.windows.net",
        Known {
            service: "Microsoft Entra ID",
            role: "sign-in, needed always by Azure Arc",
            service_tag: Some("AzureActiveDirectory"),
        },
    ),
    (
        "pas.windows.net",
        Known {
            service: "Microsoft Entra ID",
            role: "sign-in, needed always by Azure Arc",
            service_tag: Some("AzureActiveDirectory"),
        },
    ),
    (
        "*.his.arc.azure.com",
        Known {
            service: ARC,
            role: "hybrid identity and metadata service, needed always",
            service_tag: Some("AzureArcInfrastructure"),
        },
    ),
    (
        "*.guestconfiguration.azure.com",
        Known {
            service: ARC,
            role: "extensions and guest configuration, needed always",
            service_tag: Some("AzureArcInfrastructure"),
        },
    ),
    (
        "guestnotificationservice.azure.com",
        Known {
            service: ARC,
            role: "notification service, needed always",
            service_tag: Some("AzureArcInfrastructure"),
        },
    ),
    (
        "*.guestnotificationservice.azure.com",
        Known {
            service: ARC,
            role: "notification service, needed always",
            service_tag: Some("AzureArcInfrastructure"),
        },
    ),
    (
        "azgn*.servicebus.windows.net",
        Known {
            service: ARC,
            role: "notification service through Service Bus, needed always",
            service_tag: None,
        },
    ),
    (
        "*.servicebus.windows.net",
        Known {
            service: ARC,
            role: "SSH and Windows Admin Center through Service Bus",
            service_tag: None,
        },
    ),
    (
        "*.waconazure.com",
        Known {
            service: ARC,
            role: "Windows Admin Center",
            service_tag: None,
        },
    ),
    (
        "*.blob.core.windows.net",
        Known {
            service: "Azure Storage",
            role: "blob downloads such as Arc extensions",
            service_tag: Some("Storage"),
        },
    ),
    (
        "dc.services.visualstudio.com",
        Known {
            service: ARC,
            role: "telemetry of agents before 1.24",
            service_tag: None,
        },
    ),
    (
        "*.arcdataservices.com",
        Known {
            service: ARC,
            role: "Arc-enabled SQL Server",
            service_tag: None,
        },
    ),
    (
        "aka.ms",
        Known {
            service: ARC,
            role: "installation download links",
            service_tag: None,
        },
    ),
    (
        "download.microsoft.com",
        Known {
            service: ARC,
            role: "installation, Windows package",
            service_tag: None,
        },
    ),
    (
        "packages.microsoft.com",
        Known {
            service: ARC,
            role: "installation, Linux packages",
            service_tag: None,
        },
    ),
    (
        "www.microsoft.com",
        Known {
            service: "Microsoft PKI",
            role: "certificates and revocation lists under /pkiops, for Arc ESU on port 80 too",
            service_tag: None,
        },
    ),
];

/// The registrable domains of the catalogue (and of the sovereign clouds' twins): a name under
/// none of them is no known endpoint, found without trying every pattern.
const DOMAINS: [&str; 13] = [
    "azure.com",
    "microsoftmetrics.com",
    "microsoftonline.com",
    "windows.net",
    "visualstudio.com",
    "arcdataservices.com",
    "waconazure.com",
    "aka.ms",
    "microsoft.com",
    "azure.us",
    "azure.cn",
    "usgovcloudapi.net",
    "chinacloudapi.cn",
];

/// The known endpoint `name` is, if any.
pub fn lookup(name: &str) -> Option<Match> {
    let name = name.trim_end_matches('.');
    // A CONNECT target or Host may carry a port.
    let name = match name.as_bytes().last() {
        Some(b) if b.is_ascii_digit() => match name.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => name,
        },
        _ => name,
    };
    if name.len() > 253 || !under_a_domain(name) {
        return None;
    }
    // Names are almost always lowercase already: no copy then.
    let lower: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    };
    let (public, cloud) = public_twin(lower);
    CATALOGUE
        .iter()
        .find(|(pattern, _)| matches(pattern, &public))
        .map(|(_, known)| Match { known, cloud })
}

/// The public-cloud name of a sovereign cloud's one, and which cloud it was.
fn public_twin(name: Cow<'_, str>) -> (Cow<'_, str>, Option<&'static str>) {
    const TWINS: [(&str, &str, &str); 4] = [
        (".azure.us", ".azure.com", "Azure Government"),
        (".azure.cn", ".azure.com", "Azure China"),
        (".usgovcloudapi.net", ".windows.net", "Azure Government"),
        (".chinacloudapi.cn", ".windows.net", "Azure China"),
    ];
    for (suffix, public, cloud) in TWINS {
        if let Some(stem) = name.strip_suffix(suffix) {
            return (Cow::Owned(format!("{stem}{public}")), Some(cloud));
        }
    }
    (name, None)
}

/// `name` ends with one of [`DOMAINS`] (ASCII case ignored), at a label boundary or whole.
fn under_a_domain(name: &str) -> bool {
    let b = name.as_bytes();
    DOMAINS.iter().any(|d| {
        let Some(cut) = b.len().checked_sub(d.len()) else {
            return false;
        };
        b.get(cut..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(d.as_bytes()))
            && (cut == 0 || b.get(cut - 1) == Some(&b'.'))
    })
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, suffix)) => {
            // `prefix*.suffix`: the part the star stands for is within the first label (no dot),
            // unless there is no prefix (`*.suffix`: any labels).
            let Some(rest) = name.strip_suffix(suffix) else {
                return false;
            };
            let Some(star) = rest.strip_prefix(prefix) else {
                return false;
            };
            !rest.is_empty() && (prefix.is_empty() || !star.contains('.'))
        }
    }
}

impl Match {
    /// "an Azure Monitor Agent endpoint (control service AMCS, the agent's configuration)", with
    /// the sovereign cloud when there is one.
    pub fn describe(&self) -> String {
        let service = self.known.service;
        let article = if service.starts_with(['A', 'E', 'I', 'O', 'U']) {
            "an"
        } else {
            "a"
        };
        let mut s = String::with_capacity(96);
        for piece in [article, " ", service, " endpoint (", self.known.role] {
            s.push_str(piece);
        }
        if let Some(c) = self.cloud {
            s.push_str(", ");
            s.push_str(c);
        }
        s.push(')');
        s
    }
}

/// Does an HTTP request for `target` (its path) on `host` fetch what a TLS client fetches to check
/// a certificate: a CRL or an OCSP answer (revocation), or a CA certificate (AIA, chain building)?
/// Such fetches go over plain HTTP (port 80) by design, and a client that cannot make them fails
/// its TLS handshakes (Windows SChannel: `CRYPT_E_REVOCATION_OFFLINE`).
pub fn is_pki_fetch(target: &str, host: Option<&str>) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let path = path.to_ascii_lowercase();
    let by_path = [".crl", ".crt", ".cer", ".p7c"]
        .iter()
        .any(|ext| path.ends_with(ext))
        || path.contains("/ocsp")
        || path.contains("/pkiops/");
    let by_host = host.is_some_and(|h| {
        let first = h.split('.').next().unwrap_or(h).to_ascii_lowercase();
        first.starts_with("crl") || first.starts_with("ocsp")
    });
    by_path || by_host
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_match_their_endpoints() {
        let role = |n: &str| lookup(n).map(|m| m.known.role);
        assert_eq!(
            role("global.handler.control.monitor.azure.com"),
            Some("control service AMCS, the agent's configuration")
        );
        assert_eq!(
            role("westeurope.handler.control.monitor.azure.com"),
            Some("regional handler, the agent's data collection rules")
        );
        assert_eq!(
            role("0f1e2d3c-aaaa-bbbb-cccc-0123456789ab.ods.opinsights.azure.com"),
            Some("Log Analytics workspace, log ingestion")
        );
        assert_eq!(
            role("my-dce-abcd.westeurope-1.ingest.monitor.azure.com"),
            Some("data collection endpoint, ingestion")
        );
        assert_eq!(
            role("azgnweu01.servicebus.windows.net"),
            Some("notification service through Service Bus, needed always")
        );
        assert_eq!(
            role("other.servicebus.windows.net"),
            Some("SSH and Windows Admin Center through Service Bus")
        );
        assert_eq!(
            role("GUESTNOTIFICATIONSERVICE.AZURE.COM."),
            Some("notification service, needed always")
        );
        assert_eq!(role("management.azure.com:443").map(|_| ()), Some(()));
        // Not a label boundary, not the endpoint, not a suffix of it.
        assert_eq!(role("evilhandler.control.monitor.azure.com"), None);
        assert_eq!(role("handler.control.monitor.azure.com"), None);
        assert_eq!(role("his.arc.azure.com"), None);
        assert_eq!(
            role("global.handler.control.monitor.azure.com.evil.test"),
            None
        );
        assert_eq!(role("api.contoso.test"), None);
        assert_eq!(role("notazure.com"), None);
        assert_eq!(role("evil-windows.net"), None);
        assert_eq!(role(""), None);
        assert_eq!(role(&"a".repeat(300)), None);
    }

    #[test]
    fn certificate_and_revocation_fetches_are_told_apart() {
        assert!(is_pki_fetch("/pki/root.crl", Some("crl.contoso.test")));
        assert!(is_pki_fetch(
            "/pkiops/certs/x.crt",
            Some("www.microsoft.com")
        ));
        assert!(is_pki_fetch(
            "/DigiCertGlobalRootG2.CRL?x=1",
            Some("x.test")
        ));
        assert!(is_pki_fetch("/", Some("ocsp.digicert.com")));
        assert!(is_pki_fetch(
            "/MFEwTzBNMEswSTAJBgUr",
            Some("crl3.digicert.com")
        ));
        assert!(!is_pki_fetch("/index.html", Some("www.contoso.test")));
        assert!(!is_pki_fetch("/crl-report", Some("api.contoso.test")));
        assert!(!is_pki_fetch("/", None));
    }

    #[test]
    fn sovereign_clouds_match_as_their_public_twins() {
        let m = lookup("usgovvirginia.handler.control.monitor.azure.us").unwrap();
        assert_eq!(m.cloud, Some("Azure Government"));
        assert_eq!(m.known.service, AMA);
        let m = lookup("x.ods.opinsights.azure.cn").unwrap();
        assert_eq!(m.cloud, Some("Azure China"));
        let m = lookup("acct.blob.core.usgovcloudapi.net").unwrap();
        assert_eq!(m.cloud, Some("Azure Government"));
        assert_eq!(
            m.describe(),
            "an Azure Storage endpoint (blob downloads such as Arc extensions, Azure Government)"
        );
        assert_eq!(
            lookup("www.microsoft.com").unwrap().describe(),
            "a Microsoft PKI endpoint (certificates and revocation lists under /pkiops, for Arc ESU on port 80 too)"
        );
        assert!(lookup("global.handler.control.monitor.azure.com")
            .unwrap()
            .cloud
            .is_none());
    }
}
