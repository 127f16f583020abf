//! Login and management pages that should not face the whole Internet: WordPress admin,
//! phpMyAdmin, VPN gateway portals, router management, and WordPress XML-RPC. Each probe
//! needs page content naming the product, so a catch-all site raises nothing.

use crate::checks::soft404::NotFoundProfile;
use crate::finding::Finding;
use crate::http::{Http, Response};
use reqwest::Url;

struct Panel {
    path: &'static str,
    id: &'static str,
    /// Product name for the title, and the page texts of which one must appear.
    product: &'static str,
    needles: &'static [&'static str],
}

const PANELS: &[Panel] = &[
    Panel {
        path: "/wp-admin/",
        id: "admin_wordpress_login",
        product: "WordPress",
        needles: &["id=\"user_login\"", "name=\"log\"", "wp-submit"],
    },
    Panel {
        path: "/phpmyadmin/",
        id: "admin_phpmyadmin",
        product: "phpMyAdmin",
        needles: &[
            "<title>phpMyAdmin",
            "pma_username",
            "phpMyAdmin is more friendly",
        ],
    },
    Panel {
        path: "/phpMyAdmin/",
        id: "admin_phpmyadmin",
        product: "phpMyAdmin",
        needles: &["<title>phpMyAdmin", "pma_username"],
    },
    Panel {
        path: "/remote/login",
        id: "admin_vpn_login",
        product: "Fortinet FortiGate SSL-VPN",
        needles: &["/remote/login", "ftnt-fortinet", "fgt_lang"],
    },
    Panel {
        path: "/dana-na/auth/url_default/welcome.cgi",
        id: "admin_vpn_login",
        product: "Ivanti / Pulse Connect Secure",
        needles: &["dana-na", "Pulse Secure", "Ivanti"],
    },
    Panel {
        path: "/global-protect/login.esp",
        id: "admin_vpn_login",
        product: "Palo Alto GlobalProtect",
        needles: &["GlobalProtect"],
    },
    Panel {
        path: "/+CSCOE+/logon.html",
        id: "admin_vpn_login",
        product: "Cisco ASA AnyConnect",
        needles: &["webvpn", "CSCOE"],
    },
    Panel {
        path: "/vpn/index.html",
        id: "admin_vpn_login",
        product: "Citrix NetScaler Gateway",
        needles: &["Citrix Gateway", "NetScaler", "/vpn/resources/"],
    },
    Panel {
        path: "/sslvpnLogin.html",
        id: "admin_vpn_login",
        product: "SonicWall SSL-VPN",
        needles: &["SonicWall", "sonicwall"],
    },
    Panel {
        path: "/cgi-bin/luci",
        id: "admin_router_login",
        product: "OpenWrt LuCI",
        needles: &["luci", "LuCI"],
    },
    Panel {
        path: "/webfig/",
        id: "admin_router_login",
        product: "MikroTik RouterOS WebFig",
        needles: &["webfig", "RouterOS"],
    },
];

/// The needle found in a success page, if it is the product's page.
fn recognise(
    resp: &Response,
    needles: &[&str],
    profile: &NotFoundProfile,
    path: &str,
) -> Option<String> {
    if resp.status != 200 || profile.matches(resp, path) {
        return None;
    }
    let t = resp.text();
    needles
        .iter()
        .find(|n| t.contains(**n))
        .map(|n| resp.evidence(Some(n)))
}

/// Probes the panels and XML-RPC.
pub async fn run(
    http: &Http,
    origin: &Url,
    profile: &NotFoundProfile,
    errors: &mut Vec<String>,
    tick: &mut (dyn FnMut() + Send),
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for panel in PANELS {
        if out
            .iter()
            .any(|f| f.id == panel.id && panel.id != "admin_vpn_login")
        {
            continue;
        }
        let Ok(url) = origin.join(panel.path) else {
            continue;
        };
        tick();
        let result = if panel.id == "admin_wordpress_login" {
            // /wp-admin/ redirects to wp-login.php; the login form is on the final page.
            http.get_following(&url).await.map(|(r, _)| r)
        } else {
            http.get(&url).await
        };
        match result {
            Ok(resp) => {
                if let Some(ev) = recognise(&resp, panel.needles, profile, panel.path) {
                    let f = Finding::builtin(panel.id, resp.url.as_str(), ev);
                    // The product name says which VPN or router; the other titles name it already.
                    let f = if matches!(panel.id, "admin_vpn_login" | "admin_router_login") {
                        f.detail(panel.product)
                    } else {
                        f
                    };
                    out.push(f);
                }
            }
            Err(e @ crate::Error::Budget { .. }) => {
                errors.push(e.to_string());
                return out;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if let Ok(url) = origin.join("/xmlrpc.php") {
        tick();
        match http.get(&url).await {
            Ok(resp) => {
                let t = resp.text();
                if resp.status == 405 || resp.status == 200 {
                    if let Some(n) = [
                        "XML-RPC server accepts POST requests only",
                        "<methodResponse>",
                    ]
                    .iter()
                    .find(|n| t.contains(**n))
                    {
                        out.push(Finding::builtin(
                            "wordpress_xmlrpc",
                            url.as_str(),
                            resp.evidence(Some(n)),
                        ));
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    out
}
