//! The proxy alone, as `mamori waf serve` runs it, for profiling the request path without
//! relinking the whole binary: `cargo run --release -p mamori-waf --example proxy_serve --
//! LISTEN UPSTREAM_URL RULES [AUDIT_LOG]` (RULES: a CRS directory or a `.conf`; an empty
//! `.conf` measures the bare proxy). Runs until killed.

use mamori_waf::proxy::config::{ProxyConfig, SiteConfig};
use mamori_waf::proxy::Proxy;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream), Some(rules)) = (args.next(), args.next(), args.next())
    else {
        return Err("usage: proxy_serve LISTEN UPSTREAM_URL RULES [AUDIT_LOG]".into());
    };
    let config = ProxyConfig {
        listen: listen.clone(),
        rules,
        audit_log: args.next().unwrap_or_default(),
        sites: vec![SiteConfig {
            upstreams: vec![upstream],
            ..SiteConfig::default()
        }],
        ..ProxyConfig::default()
    };
    let proxy = Proxy::new(config, None)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let _health = proxy.spawn_health_checks();
    proxy.serve(listener, std::future::pending()).await;
    Ok(())
}
