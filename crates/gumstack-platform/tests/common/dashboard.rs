//! What the dashboard tests share: sessions by role and the answers a page or form gives.

use axum::http::{StatusCode, header};
use gumstack_platform::store::{Role, User};

use super::{Harness, Reply};

/// How many servers exist.
pub async fn servers(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM servers").await
}

pub fn assert_redirect(reply: &Reply, to: &str) {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let location = reply.headers[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(to),
        "redirected to {location}, not {to}"
    );
}

pub fn assert_forbidden(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.text.contains("Not allowed") || reply.text.contains("This form expired"),
        "a clear page: {}",
        reply.text
    );
    assert!(reply.text.contains("<h1>"), "an HTML page: {}", reply.text);
}

/// An admin session (cookie, csrf).
pub async fn admin(h: &Harness) -> (String, String) {
    h.session_for(&h.admin).await
}

pub async fn user(h: &Harness, email: &str, role: Role) -> (User, String, String) {
    let (user, _) = h.user_with_token(email, role).await;
    let (cookie, csrf) = h.session_for(&user).await;
    (user, cookie, csrf)
}
