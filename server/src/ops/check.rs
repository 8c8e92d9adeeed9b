//! `parley-server check-config`: validates the flags and `PARLEY_*` environment
//! the way `serve` would, without binding or changing anything, and prints the
//! effective configuration with secrets masked.

use super::OpsError;
use crate::{
    config::{Config, OtpDriverKind},
    otp_driver::OtpDriver,
    store::{self, admin as sql},
};

const MASK: &str = "********";

/// Checks `config`; prints it and the findings on stdout. Any problem is an error.
pub fn run(config: &Config) -> Result<(), OpsError> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if let Err(e) = OtpDriver::from_config(config) {
        problems.push(e.to_string());
    }
    if let OtpDriverKind::File(path) = &config.otp_driver {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                problems.push(format!(
                    "--otp-driver file: directory {} does not exist",
                    parent.display()
                ));
            }
        }
    }
    if let Some(u) = &config.public_url {
        if !matches!(u.scheme(), "http" | "https") {
            problems.push(format!(
                "--public-url must be http or https, not {}",
                u.scheme()
            ));
        }
    }
    if config.metrics_listen == Some(config.listen) {
        problems.push("--metrics-listen must differ from --listen".to_owned());
    }
    check_data_dir(config, &mut problems, &mut notes);

    println!("# effective configuration (secrets masked)");
    for (key, value) in effective(config) {
        println!("{key} = {value}");
    }
    for n in &notes {
        println!("# note: {n}");
    }
    if problems.is_empty() {
        println!("# configuration OK");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("check-config: {p}");
        }
        Err(OpsError::Refused(format!(
            "the configuration has {} problem(s): {}",
            problems.len(),
            problems.join("; ")
        )))
    }
}

fn check_data_dir(config: &Config, problems: &mut Vec<String>, notes: &mut Vec<String>) {
    let dir = &config.data_dir;
    if !dir.exists() {
        notes.push(format!(
            "data directory {} will be created on first start",
            dir.display()
        ));
        return;
    }
    if !dir.is_dir() {
        problems.push(format!("--data-dir {} is not a directory", dir.display()));
        return;
    }
    let probe = dir.join(".check-config-write-test");
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => problems.push(format!(
            "data directory {} is not writable: {e}",
            dir.display()
        )),
    }
    let db = dir.join("parley.db");
    if db.is_file() {
        match sql::open_for_reading(&db).map_err(OpsError::from).and_then(|c| Ok(sql::schema_version(&c)?)) {
            Ok(v) if v > store::known_version() => problems.push(format!(
                "database {} has schema version {v}, newer than this server knows ({}); upgrade parley-server",
                db.display(),
                store::known_version()
            )),
            Ok(v) if v < store::known_version() => notes.push(format!(
                "database schema version {v} will be migrated to {} on start",
                store::known_version()
            )),
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
}

/// Hides the password of a URL's userinfo, if any.
pub fn mask_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some(MASK));
            }
            u.to_string()
        }
        // Unparseable: the driver check reports it; show nothing that could be a secret.
        Err(_) => "(unparseable)".to_owned(),
    }
}

/// Every setting as `(flag, value)`, secrets masked.
pub fn effective(c: &Config) -> Vec<(&'static str, String)> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "(unset)".to_owned());
    vec![
        ("data-dir", c.data_dir.display().to_string()),
        ("listen", c.listen.to_string()),
        (
            "public-url",
            c.public_url.as_ref().map_or_else(
                || c.public_url(c.listen).to_string() + " (from --listen)",
                |u| u.to_string(),
            ),
        ),
        (
            "otp-driver",
            match &c.otp_driver {
                OtpDriverKind::Log => "log".to_owned(),
                OtpDriverKind::File(p) => format!("file:{}", p.display()),
                OtpDriverKind::Smtp => "smtp".to_owned(),
                OtpDriverKind::Webhook => "webhook".to_owned(),
            },
        ),
        ("smtp-url", opt(c.smtp_url.as_deref().map(mask_url))),
        ("smtp-from", c.smtp_from.clone()),
        (
            "webhook-url",
            opt(c.webhook_url.as_ref().map(|u| mask_url(u.as_str()))),
        ),
        (
            "webhook-token",
            opt(c.webhook_token.as_ref().map(|_| MASK.to_owned())),
        ),
        ("otp-ttl", c.otp_ttl.to_string()),
        ("otp-resend-interval", c.otp_resend_interval.to_string()),
        ("auth-rate-per-ip", c.auth_rate_per_ip.to_string()),
        ("refresh-rate-per-ip", c.refresh_rate_per_ip.to_string()),
        ("access-token-ttl", c.access_token_ttl.to_string()),
        ("trust-forwarded-for", c.trust_forwarded_for.to_string()),
        ("contact-code-ttl", c.contact_code_ttl.to_string()),
        ("short-code-attempts", c.short_code_attempts.to_string()),
        ("max-attachment-bytes", c.max_attachment_bytes.to_string()),
        ("event-retention-days", c.event_retention_days.to_string()),
        ("ws-queue", c.ws_queue.to_string()),
        ("ws-rate", c.ws_rate.to_string()),
        ("ws-idle-timeout", c.ws_idle_timeout.to_string()),
        ("tcp-send-buffer", c.tcp_send_buffer.to_string()),
        (
            "metrics-listen",
            opt(c.metrics_listen.map(|a| a.to_string())),
        ),
        ("read-connections", c.read_connections.to_string()),
        ("max-database-mib", c.max_database_mib.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_urls_are_masked() {
        let m = super::mask_url("smtps://mailer:hunter2@mail.example.org:465");
        assert!(!m.contains("hunter2"), "{m}");
        assert!(m.contains("mailer:********@mail.example.org"), "{m}");
        assert_eq!(
            super::mask_url("smtp://127.0.0.1:2525"),
            "smtp://127.0.0.1:2525"
        );
    }
}
