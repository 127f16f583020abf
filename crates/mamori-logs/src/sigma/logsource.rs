//! Sigma `logsource` → the Windows channels and event ids a rule applies to, as SigmaHQ's own
//! conversion pipelines (pySigma's Windows and Sysmon pipelines) and Hayabusa/Chainsaw apply
//! SigmaHQ rules to EVTX: `service` names a channel, a generic `category` names Sysmon event
//! ids (and, for `process_creation`, Security 4688 whose field names are aliased by the
//! matcher: see [`SECURITY_4688_ALIASES`]).
//!
//! Non-Windows log sources are not channels: such rules are tried on the events of the readers
//! that produce that kind of log (webserver rules on access logs, proxy rules on Squid logs,
//! linux rules on syslog/auth logs, firewall rules on firewall lines; cloud and other products
//! on JSON lines only), with Sigma's taxonomy field names (`cs-uri-query`, `c-useragent`...)
//! aliased to ours ([`TEXT_ALIASES`]). Windows log sources not in these tables match nothing and
//! are counted in the coverage report.

use crate::event::SourceKind;

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Windows events of these channels (lowercase), each with the event ids it is limited to
    /// (empty: any id).
    Channels(Vec<(String, Vec<u32>)>),
    /// Any Windows event (`product: windows` alone).
    AnyWindows,
    /// Events without a channel from these readers.
    NonWindows(&'static [SourceKind]),
    /// A Windows log source this engine has no mapping for.
    Unmapped(String),
}

const SYSMON: &str = "microsoft-windows-sysmon/operational";
const SECURITY: &str = "security";
const PS_OPERATIONAL: &str = "microsoft-windows-powershell/operational";
const PS_CORE: &str = "powershellcore/operational";
const PS_CLASSIC: &str = "windows powershell";

/// Field names a `process_creation` rule uses, and the Security 4688 field holding that value.
pub(crate) const SECURITY_4688_ALIASES: &[(&str, &str)] = &[
    ("image", "NewProcessName"),
    ("parentimage", "ParentProcessName"),
    ("logonid", "SubjectLogonId"),
];

/// Sigma taxonomy names of web, proxy and network fields → the names our text readers use
/// (see `event.rs`), first present wins.
pub(crate) const TEXT_ALIASES: &[(&str, &[&str])] = &[
    // Many SigmaHQ webserver rules put path fragments in `cs-uri-query`: give them the URI.
    ("cs-uri-query", &["uri", "query"]),
    ("cs-uri-stem", &["path", "uri"]),
    ("cs-uri", &["uri"]),
    ("c-uri", &["url", "uri"]),
    ("c-uri-query", &["query"]),
    ("cs-method", &["method"]),
    ("sc-status", &["status"]),
    ("c-useragent", &["user_agent"]),
    ("cs-user-agent", &["user_agent"]),
    ("cs-host", &["host", "dst_host"]),
    ("r-dns", &["dst_host", "host"]),
    ("cs-referer", &["referer"]),
    ("cs-referrer", &["referer"]),
    ("c-ip", &["src_ip"]),
    ("cs-username", &["user"]),
    ("sc-bytes", &["bytes"]),
    ("cs-bytes", &["bytes_out"]),
];

const WEB: &[SourceKind] = &[SourceKind::WebAccess];
const PROXY: &[SourceKind] = &[SourceKind::Squid];
const FIREWALL: &[SourceKind] = &[SourceKind::Firewall];
const UNIX: &[SourceKind] = &[
    SourceKind::Syslog,
    SourceKind::Auth,
    SourceKind::MailAuth,
    SourceKind::JsonLines,
];
const JSON: &[SourceKind] = &[SourceKind::JsonLines];

/// Which of our text readers produce a non-Windows log source.
fn text_sources(product: Option<&str>, category: Option<&str>) -> &'static [SourceKind] {
    match (product, category) {
        (_, Some("webserver")) => WEB,
        (_, Some("proxy")) => PROXY,
        (_, Some("firewall")) => FIREWALL,
        (Some("linux" | "unix"), _) => UNIX,
        _ => JSON,
    }
}

/// Sysmon event ids of each generic Windows category.
fn sysmon_category(category: &str) -> Option<&'static [u32]> {
    Some(match category {
        "process_creation" => &[1],
        "file_change" => &[2],
        "network_connection" => &[3],
        "sysmon_status" => &[4, 16],
        "process_termination" => &[5],
        "driver_load" => &[6],
        "image_load" => &[7],
        "create_remote_thread" => &[8],
        "raw_access_thread" => &[9],
        "process_access" => &[10],
        "file_event" => &[11],
        "registry_add" | "registry_delete" => &[12],
        "registry_set" => &[13],
        "registry_rename" => &[14],
        "registry_event" => &[12, 13, 14],
        "create_stream_hash" => &[15],
        "pipe_created" => &[17, 18],
        "wmi_event" => &[19, 20, 21],
        "dns_query" => &[22],
        "file_delete" => &[23, 26],
        "clipboard_capture" => &[24],
        "process_tampering" => &[25],
        "file_block_executable" => &[27],
        "file_block_shredding" => &[28],
        "file_executable_detected" => &[29],
        "sysmon_error" => &[255],
        _ => return None,
    })
}

/// Channels of each Windows `service`.
fn service_channels(service: &str) -> Option<&'static [&'static str]> {
    Some(match service {
        "security" => &[SECURITY],
        "system" => &["system"],
        "application" => &["application"],
        "sysmon" => &[SYSMON],
        "powershell" => &[PS_OPERATIONAL, PS_CORE],
        "powershell-classic" => &[PS_CLASSIC],
        "taskscheduler" => &["microsoft-windows-taskscheduler/operational"],
        "wmi" => &["microsoft-windows-wmi-activity/operational"],
        "dns-server" => &["dns server"],
        "dns-server-audit" => &["microsoft-windows-dns-server/audit"],
        "dns-server-analytic" => &["microsoft-windows-dns-server/analytical"],
        "driver-framework" => &["microsoft-windows-driverframeworks-usermode/operational"],
        "ntlm" => &["microsoft-windows-ntlm/operational"],
        "dhcp" => &["microsoft-windows-dhcp-server/operational"],
        "msexchange-management" => &["msexchange management"],
        "applocker" => &[
            "microsoft-windows-applocker/msi and script",
            "microsoft-windows-applocker/exe and dll",
            "microsoft-windows-applocker/packaged app-deployment",
            "microsoft-windows-applocker/packaged app-execution",
        ],
        "printservice-admin" => &["microsoft-windows-printservice/admin"],
        "printservice-operational" => &["microsoft-windows-printservice/operational"],
        "codeintegrity-operational" => &["microsoft-windows-codeintegrity/operational"],
        "smbclient-security" => &["microsoft-windows-smbclient/security"],
        "smbclient-connectivity" => &["microsoft-windows-smbclient/connectivity"],
        "smbserver-connectivity" => &["microsoft-windows-smbserver/connectivity"],
        "firewall-as" => &["microsoft-windows-windows firewall with advanced security/firewall"],
        "bits-client" => &["microsoft-windows-bits-client/operational"],
        "windefend" => &["microsoft-windows-windows defender/operational"],
        "terminalservices-localsessionmanager" => {
            &["microsoft-windows-terminalservices-localsessionmanager/operational"]
        }
        "microsoft-servicebus-client" => &["microsoft-servicebus-client"],
        "ldap_debug" | "ldap" => &["microsoft-windows-ldap-client/debug"],
        "security-mitigations" => &[
            "microsoft-windows-security-mitigations/kernel mode",
            "microsoft-windows-security-mitigations/user mode",
        ],
        "diagnosis-scripted" => &["microsoft-windows-diagnosis-scripted/operational"],
        "shell-core" => &["microsoft-windows-shell-core/operational"],
        "openssh" => &["openssh/operational"],
        "bitlocker" => &["microsoft-windows-bitlocker/bitlocker management"],
        "vhdmp" => &["microsoft-windows-vhdmp/operational"],
        "appxdeployment-server" => &["microsoft-windows-appxdeploymentserver/operational"],
        "lsa-server" => &["microsoft-windows-lsa/operational"],
        "appxpackaging-om" => &["microsoft-windows-appxpackaging/operational"],
        "dns-client" => &["microsoft-windows-dns client events/operational"],
        "appmodel-runtime" => &["microsoft-windows-appmodel-runtime/admin"],
        "capi2" => &["microsoft-windows-capi2/operational"],
        "certificateservicesclient-lifecycle-system" => {
            &["microsoft-windows-certificateservicesclient-lifecycle-system/operational"]
        }
        "iis-configuration" => &["microsoft-iis-configuration/operational"],
        _ => return None,
    })
}

/// Where a rule with this `logsource` applies.
pub(crate) fn target(
    product: Option<&str>,
    category: Option<&str>,
    service: Option<&str>,
) -> Target {
    let lower = |s: Option<&str>| s.map(|s| s.trim().to_ascii_lowercase());
    let (product, category, service) = (lower(product), lower(category), lower(service));
    let windows = product.as_deref() == Some("windows");
    if !windows {
        return Target::NonWindows(text_sources(product.as_deref(), category.as_deref()));
    }
    let chans = |list: &[&str], ids: &[u32]| -> Vec<(String, Vec<u32>)> {
        list.iter().map(|c| (c.to_string(), ids.to_vec())).collect()
    };
    if let Some(service) = service.as_deref() {
        return match service_channels(service) {
            Some(list) => Target::Channels(chans(list, &[])),
            None => Target::Unmapped(format!("service `{service}`")),
        };
    }
    let Some(category) = category.as_deref() else {
        return Target::AnyWindows;
    };
    let ps = |id: u32| Target::Channels(chans(&[PS_OPERATIONAL, PS_CORE], &[id]));
    match category {
        "ps_module" => ps(4103),
        "ps_script" => ps(4104),
        "ps_classic_start" => Target::Channels(chans(&[PS_CLASSIC], &[400])),
        "ps_classic_provider_start" => Target::Channels(chans(&[PS_CLASSIC], &[600])),
        "ps_classic_script" => Target::Channels(chans(&[PS_CLASSIC], &[800])),
        "process_creation" => {
            let mut c = chans(&[SYSMON], &[1]);
            c.push((SECURITY.to_string(), vec![4688]));
            Target::Channels(c)
        }
        other => match sysmon_category(other) {
            Some(ids) => Target::Channels(chans(&[SYSMON], ids)),
            None => Target::Unmapped(format!("category `{other}`")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_creation_means_sysmon_1_and_security_4688() {
        let t = target(Some("windows"), Some("process_creation"), None);
        assert_eq!(
            t,
            Target::Channels(vec![
                (SYSMON.into(), vec![1]),
                ("security".into(), vec![4688])
            ])
        );
    }

    #[test]
    fn services_name_channels_and_unknown_ones_are_unmapped() {
        assert_eq!(
            target(Some("windows"), None, Some("security")),
            Target::Channels(vec![("security".into(), vec![])])
        );
        assert!(matches!(
            target(Some("windows"), None, Some("no-such")),
            Target::Unmapped(_)
        ));
        assert_eq!(
            target(Some("linux"), Some("process_creation"), None),
            Target::NonWindows(UNIX)
        );
        assert_eq!(
            target(None, Some("webserver"), None),
            Target::NonWindows(WEB)
        );
        assert_eq!(
            target(Some("aws"), None, Some("cloudtrail")),
            Target::NonWindows(JSON)
        );
        assert_eq!(target(Some("windows"), None, None), Target::AnyWindows);
        assert_eq!(
            target(Some("windows"), Some("ps_script"), None),
            Target::Channels(vec![
                (PS_OPERATIONAL.into(), vec![4104]),
                (PS_CORE.into(), vec![4104])
            ])
        );
    }
}
