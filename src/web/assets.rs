//! Static files, compiled into the binary. Each is served under a URL carrying a hash of its
//! contents, with a year-long cache lifetime: a new release changes the URL.

use axum::{
    extract::Path,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use sha2::{Digest, Sha256, Sha384};
use std::sync::LazyLock;

use crate::web::error::AppError;

/// The vendored htmx; its version and SHA-256 are noted in `static/vendor/README.md`.
pub const HTMX_FILE: &str = "vendor/htmx-2.0.11.min.js";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/app.css"),
    },
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/app.js"),
    },
    Asset {
        path: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/icon.svg"),
    },
    Asset {
        path: HTMX_FILE,
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/htmx-2.0.11.min.js"),
    },
];

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The URLs and integrity values the layout needs.
#[derive(Debug)]
pub struct AssetUrls {
    pub css: String,
    pub js: String,
    pub htmx: String,
    pub icon: String,
    pub htmx_integrity: String,
}

fn url(path: &str) -> String {
    let hash = find(path)
        .map(|a| hex::encode(&Sha256::digest(a.bytes)[..6]))
        .unwrap_or_default();
    format!("/static/{path}?v={hash}")
}

/// Computed once, on first use.
pub static URLS: LazyLock<AssetUrls> = LazyLock::new(|| AssetUrls {
    css: url("app.css"),
    js: url("app.js"),
    htmx: url(HTMX_FILE),
    icon: url("icon.svg"),
    htmx_integrity: find(HTMX_FILE)
        .map(|a| {
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(a.bytes))
            )
        })
        .unwrap_or_default(),
});

/// `GET /static/{*path}`: only the files listed above, so no path can reach anything else.
pub async fn serve(Path(path): Path<String>) -> Result<Response, AppError> {
    let asset = find(&path).ok_or(AppError::NotFound)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_htmx_matches_the_checksum_written_next_to_it() {
        let notes = include_str!("../../static/vendor/README.md");
        let htmx = find(HTMX_FILE).unwrap();
        let sha = hex::encode(Sha256::digest(htmx.bytes));
        assert!(
            notes.contains(&sha),
            "static/vendor/README.md does not list {sha}"
        );
        assert!(notes.contains("2.0.11"));
    }

    #[test]
    fn urls_carry_a_content_hash() {
        assert!(URLS.css.starts_with("/static/app.css?v="));
        assert!(URLS.htmx_integrity.starts_with("sha384-"));
    }
}
