//! Unit tests of the connect flow's checks.

use super::{check_authorization_url, displayable};

#[test]
fn nicknames_lose_control_and_bidi_characters() {
    assert_eq!(displayable("  ann\u{202E}moc.live\n "), "annmoc.live");
    assert_eq!(displayable("<b>x</b>"), "<b>x</b>");
    assert_eq!(displayable(&"a".repeat(500)).len(), 200);
}

const REDIRECT: &str = "https://gumstack.example/auth/callback";

fn url(base: &str, state: &str) -> String {
    format!(
        "{base}?client_id=c&state={state}&redirect_uri={}",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    )
}

#[test]
fn authorization_urls_must_be_https_and_carry_the_given_state_and_redirect() {
    assert!(
        check_authorization_url(&url("https://idp.example/authorize", "s1"), "s1", REDIRECT)
            .is_ok()
    );
    assert!(
        check_authorization_url(&url("http://127.0.0.1:8080/auth", "s1"), "s1", REDIRECT).is_ok()
    );
    assert!(
        check_authorization_url(&url("http://localhost:8080/auth", "s1"), "s1", REDIRECT).is_ok()
    );
    let refused = [
        (url("http://idp.example/authorize", "s1"), "not loopback"),
        (url("javascript:alert(1)//", "s1"), "scheme"),
        (url("data:text/html,x", "s1"), "scheme"),
        (url("https://idp.example/authorize", "other"), "state"),
        (
            "https://idp.example/authorize?state=s1".to_owned(),
            "redirect",
        ),
        (
            format!("{}&state=s1", url("https://idp.example/a", "s1")),
            "state",
        ),
        (
            url("https://idp.example/a", "s1").replace("callback", "callback2"),
            "redirect",
        ),
        (
            url("https://user:pw@idp.example/a", "s1"),
            "user information",
        ),
        ("not a url".to_owned(), "not a URL"),
    ];
    for (candidate, why) in refused {
        let error = check_authorization_url(&candidate, "s1", REDIRECT).unwrap_err();
        assert!(error.contains(why), "{candidate}: {error}");
    }
}
