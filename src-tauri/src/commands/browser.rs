//! Web links in messages open in the system browser, never in the app's own
//! window (which would replace Parley with the page), and only when they are
//! web links: a message is someone else's text, and `file:`, `javascript:`
//! or a custom scheme handed to the OS could run something.

use crate::error::{CmdResult, CommandError};
use serde::Deserialize;
use tauri_plugin_opener::OpenerExt;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct WebLinkArgs {
    pub url: String,
}

/// The link as the browser gets it, if Parley opens it: http or https, with
/// a host, and no user name or password (`https://bank.example@evil.example`
/// shows one host and goes to another).
pub fn web_link(raw: &str) -> CmdResult<url::Url> {
    let refuse = |why: &str| CommandError::new("invalid", format!("Not opened: {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|_| refuse("not a web address"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("only http and https links open"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("the link has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("the link hides its real host behind a user name"));
    }
    Ok(url)
}

/// Whether the main window may go to `url`: Parley's own pages (`tauri:`,
/// `http://tauri.localhost` on Windows, and only in a build without the
/// embedded UI, the dev server of `tauri.conf.json`'s `devUrl`), never a
/// web page, nor another local server. A link that escaped `MessageText`'s
/// click handler (a drag, a script) would otherwise replace the app with
/// the page, IPC and all.
pub fn stays_in_app(url: &url::Url) -> bool {
    match url.scheme() {
        "tauri" | "about" => true,
        "http" | "https" => match url.host_str() {
            Some("tauri.localhost") => true,
            Some("localhost") => !cfg!(feature = "custom-protocol") && url.port() == Some(DEV_PORT),
            _ => false,
        },
        _ => false,
    }
}

/// The port of `devUrl` in tauri.conf.json (`npm --prefix ui run dev`).
const DEV_PORT: u16 = 5173;

/// Opens a web link from a message in the system browser.
#[tauri::command]
pub fn open_link(app: tauri::AppHandle, args: WebLinkArgs) -> CmdResult<()> {
    let url = web_link(&args.url)?;
    app.opener()
        .open_url(url.as_str(), None::<&str>)
        .map_err(|e| CommandError::new("local", format!("Cannot open the link: {e}")))
}

#[cfg(test)]
mod tests {
    use super::web_link;

    #[test]
    fn the_window_stays_on_parleys_own_pages() {
        let at = |s: &str| super::stays_in_app(&url::Url::parse(s).unwrap());
        for ok in [
            "tauri://localhost/",
            "http://tauri.localhost/index.html",
            "about:blank",
        ] {
            assert!(at(ok), "{ok}");
        }
        for away in [
            "https://example.org/",
            "http://localhost.evil.example/",
            "http://127.0.0.1:5173/",
            "http://localhost:8080/",
            "file:///etc/passwd",
            "javascript:alert(1)",
        ] {
            assert!(!at(away), "{away}");
        }
        // The dev server, only when the UI is not embedded.
        assert_eq!(
            at("http://localhost:5173/"),
            !cfg!(feature = "custom-protocol")
        );
    }

    #[test]
    fn only_plain_web_links_open() {
        for ok in [
            "https://parley.example/a?b=1#c",
            "http://example.org",
            "HTTPS://EXAMPLE.ORG/Path",
            "https://www.example.org/x",
        ] {
            assert!(web_link(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://example.org",
            "parley://contact?code=x",
            "https://user:pw@example.org",
            "https://bank.example@evil.example/",
            "example.org",
            "",
        ] {
            let e = web_link(bad).unwrap_err();
            assert_eq!(e.code, "invalid", "{bad}");
        }
    }
}
