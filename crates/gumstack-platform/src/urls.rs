//! The platform's public URLs (SPEC §7): what users, MCP clients and providers see.

use gumstack_protocol::loopback::is_loopback_url;
use url::Url;

/// The public base URL and the URLs derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    base: Url,
}

impl PublicUrls {
    /// Checks a public URL: http(s), no query or fragment, and https unless the host is
    /// loopback (a TLS reverse proxy in front of the platform provides https).
    pub fn new(public_url: &str) -> Result<Self, String> {
        let mut base =
            Url::parse(public_url).map_err(|e| format!("public URL `{public_url}`: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("public URL `{public_url}` must be http or https"));
        }
        if base.query().is_some() || base.fragment().is_some() || !base.username().is_empty() {
            return Err(format!(
                "public URL `{public_url}` must not carry a query, fragment or credentials"
            ));
        }
        if base.scheme() == "http" && !is_loopback_url(&base) {
            return Err(format!(
                "public URL `{public_url}` must use https: only loopback addresses may use plain \
                 http (put a TLS reverse proxy in front of the platform)"
            ));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        Ok(Self { base })
    }

    /// The base URL without a trailing slash.
    pub fn base(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// Whether cookies must carry `Secure` (the public URL is https).
    pub fn is_https(&self) -> bool {
        self.base.scheme() == "https"
    }

    /// A path under the public URL, e.g. `join("/login")`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The MCP URL of a hosted server on the platform.
    pub fn mcp_url(&self, slug: &str) -> String {
        self.join(&format!("/mcp/{slug}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        let urls = PublicUrls::new("https://mcp.example.com/").unwrap();
        assert_eq!(urls.mcp_url("linear"), "https://mcp.example.com/mcp/linear");
        assert!(urls.is_https());
        let local = PublicUrls::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.join("/login"), "http://127.0.0.1:8080/login");
        assert!(PublicUrls::new("http://localhost:1").is_ok());
        let err = PublicUrls::new("http://mcp.example.com").unwrap_err();
        assert!(err.contains("must use https"), "{err}");
        assert!(PublicUrls::new("ftp://x").is_err());
        assert!(PublicUrls::new("https://x/?a=b").is_err());
    }
}
