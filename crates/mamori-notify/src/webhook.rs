//! Webhooks: one POST of a JSON body, retried on 5xx, 429 (honouring `Retry-After` up to
//! the policy's cap) and network errors; any other 4xx or 3xx is final.
//!
//! The URL carries a token, so nothing here logs it or lets it into an error message:
//! reqwest errors are stripped of their URL, and the log shows the host only.

use crate::config::RetryPolicy;
use crate::error::NotifyError;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// How a delivery went: tries made, and the final error if it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempted {
    pub attempts: u32,
    pub error: Option<String>,
}

/// An HTTP client for webhooks.
pub(crate) struct Poster {
    http: reqwest::Client,
}

impl Poster {
    pub(crate) fn new(timeout: Duration) -> Result<Poster, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would send the body somewhere the configuration did not name.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mamori-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client {
                what: "HTTP",
                message: e.without_url().to_string(),
            })?;
        Ok(Poster { http })
    }

    pub(crate) async fn post(&self, url: &str, body: &Value, policy: &RetryPolicy) -> Attempted {
        let mut attempts = 0;
        let mut wait = None;
        loop {
            if let Some(wait) = wait.take() {
                tokio::time::sleep(wait).await;
            }
            attempts += 1;
            let (error, retry_after, retryable) = match self.http.post(url).json(body).send().await
            {
                Ok(response) if response.status().is_success() => {
                    return Attempted {
                        attempts,
                        error: None,
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    (format!("HTTP {status}"), retry_after, retryable)
                }
                Err(e) => {
                    let retryable = !e.is_builder();
                    (e.without_url().to_string(), None, retryable)
                }
            };
            if !retryable || attempts >= policy.attempts {
                return Attempted {
                    attempts,
                    error: Some(error),
                };
            }
            tracing::debug!(attempt = attempts, %error, "webhook delivery failed, retrying");
            wait = Some(
                retry_after
                    .map(|d| policy.capped(d))
                    .unwrap_or_else(|| policy.delay(attempts)),
            );
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 +0000"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
