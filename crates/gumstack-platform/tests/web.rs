//! The browser side: login with CSRF, sessions, logout, escaping and security headers.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::Harness;
use secrecy::ExposeSecret as _;

/// Fetches the login page; returns (csrf cookie pair, csrf form value).
async fn login_form(h: &Harness) -> (String, String) {
    let page = h
        .request(Request::get("/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let set_cookie = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let marker = "name=\"csrf\" value=\"";
    let start = page.text.find(marker).unwrap() + marker.len();
    let value = page.text[start..].split('"').next().unwrap().to_owned();
    assert_eq!(cookie.split_once('=').unwrap().1, value);
    (cookie, value)
}

fn form_post(uri: &str, cookie: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(body))
        .unwrap()
}

fn login_body(email: &str, password: &str, csrf: &str) -> String {
    format!(
        "email={}&password={}&csrf={csrf}",
        urlencode(email),
        urlencode(password)
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn sessions(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM sessions").await
}

/// Logs the admin in; returns the session cookie pair.
async fn log_in(h: &Harness) -> String {
    let (cookie, csrf) = login_form(h).await;
    let password = h.admin_password.expose_secret().to_owned();
    let reply = h
        .request(form_post(
            "/login",
            &cookie,
            login_body(&h.admin.email, &password, &csrf),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    assert_eq!(reply.headers[header::LOCATION], "/");
    let session = reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("gumstack_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    session.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_admin_logs_in_sees_servers_escaped_and_logs_out() {
    let h = Harness::new().await;
    let hostile = "name: \"<script>alert(1)</script>\"\nauth:\n  type: none\n";
    h.create_server(hostile, "hostile").await;
    let session = log_in(&h).await;

    let home = h
        .request(
            Request::get("/")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text.contains(&h.admin.email));
    assert!(home.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!home.text.contains("<script>"));
    assert!(home.text.contains("http://127.0.0.1:8080/mcp/hostile"));
    let csp = home.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(home.headers[header::X_FRAME_OPTIONS], "DENY");

    // Logout needs the session's CSRF token.
    let no_csrf = h
        .request(form_post("/logout", &session, String::new()))
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let stale = h
        .request(form_post("/logout", &session, "csrf=stale".into()))
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_eq!(sessions(&h).await, 1, "a refused logout changed nothing");

    let marker = "name=\"csrf\" value=\"";
    let start = home.text.find(marker).unwrap() + marker.len();
    let csrf = home.text[start..].split('"').next().unwrap();
    let out = h
        .request(form_post("/logout", &session, format!("csrf={csrf}")))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(sessions(&h).await, 0);
    let after = h
        .request(
            Request::get("/")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.headers[header::LOCATION], "/login");
}

#[tokio::test]
async fn a_login_post_without_the_csrf_token_is_refused() {
    let h = Harness::new().await;
    let (cookie, csrf) = login_form(&h).await;
    let password = h.admin_password.expose_secret().to_owned();
    // No token in the form.
    let missing = h
        .request(form_post(
            "/login",
            &cookie,
            login_body(&h.admin.email, &password, ""),
        ))
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.text.contains("expired"));
    // A token but no cookie (a cross-site form cannot set it).
    let no_cookie = h
        .request(form_post(
            "/login",
            "",
            login_body(&h.admin.email, &password, &csrf),
        ))
        .await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    // A token that does not match the cookie.
    let mismatch = h
        .request(form_post(
            "/login",
            &cookie,
            login_body(&h.admin.email, &password, "forged"),
        ))
        .await;
    assert_eq!(mismatch.status, StatusCode::FORBIDDEN);
    assert_eq!(sessions(&h).await, 0);
}

#[tokio::test]
async fn a_wrong_password_is_refused_then_rate_limited() {
    let h = Harness::new().await;
    let (cookie, csrf) = login_form(&h).await;
    for _ in 0..5 {
        let reply = h
            .request(form_post(
                "/login",
                &cookie,
                login_body(&h.admin.email, "wrong password!", &csrf),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply.text.contains("The email or password is wrong."));
        assert!(
            reply.text.contains(&format!("value=\"{}\"", h.admin.email)),
            "email kept"
        );
        assert!(
            !reply.text.contains("wrong password!"),
            "password not echoed"
        );
    }
    // Even the right password is refused while the account is limited.
    let password = h.admin_password.expose_secret().to_owned();
    let limited = h
        .request(form_post(
            "/login",
            &cookie,
            login_body(&h.admin.email, &password, &csrf),
        ))
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(sessions(&h).await, 0);
}

#[tokio::test]
async fn pages_need_a_session() {
    let h = Harness::new().await;
    let anonymous = h
        .request(Request::get("/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    let forged = h
        .request(
            Request::get("/")
                .header(header::COOKIE, "gumstack_session=forged")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);
    assert_eq!(forged.headers[header::LOCATION], "/login");
}

#[tokio::test]
async fn a_password_reset_cuts_off_the_accounts_mcp_clients() {
    use gumstack_platform::store::{Grant, Role, Uuid, now};
    let h = Harness::new().await;
    let server = h.create_server(common::NONE_CONFIG, "greeter").await;
    let server_id = Uuid::parse_str(server["id"].as_str().unwrap()).unwrap();
    let (ada, _) = h.user_with_token("ada@example.com", Role::Member).await;
    let (bob, _) = h.user_with_token("bob@example.com", Role::Member).await;
    let grant = |user_id| Grant {
        id: Uuid::new_v4(),
        user_id,
        client_id: "some-client".into(),
        server_id,
        resource: "http://127.0.0.1:8080/mcp/greeter".into(),
        scope: None,
        created_at: now(),
        revoked_at: None,
    };
    let (adas, bobs) = (grant(ada.id), grant(bob.id));
    let store = &h.platform.state.store;
    store.insert_grant(&adas).await.unwrap();
    store.insert_grant(&bobs).await.unwrap();

    h.platform
        .state
        .accounts
        .reset_password("ada@example.com", None)
        .await
        .unwrap();
    let (adas, _) = store.grant_with_user(adas.id).await.unwrap();
    assert!(adas.revoked_at.is_some(), "Ada's client is cut off");
    let (bobs, _) = store.grant_with_user(bobs.id).await.unwrap();
    assert_eq!(bobs.revoked_at, None, "nobody else's");
}

/// 20 failed logins (of unknown accounts) from `address` as `X-Forwarded-For`, then the
/// admin's right password from `then_from`: its status.
async fn admin_after_failures_from(h: &Harness, address: &str, then_from: &str) -> StatusCode {
    let (cookie, csrf) = login_form(h).await;
    let forwarded = |mut request: Request<Body>, from: &str| {
        request
            .headers_mut()
            .insert("x-forwarded-for", from.parse().unwrap());
        request
    };
    for i in 0..20 {
        let body = login_body(&format!("nobody{i}@example.com"), "wrong password!", &csrf);
        let reply = h
            .request(forwarded(form_post("/login", &cookie, body), address))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let password = h.admin_password.expose_secret().to_owned();
    let body = login_body(&h.admin.email, &password, &csrf);
    h.request(forwarded(form_post("/login", &cookie, body), then_from))
        .await
        .status
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_login_limit_is_per_client_not_per_proxy() {
    let h = Harness::behind_trusted_proxy().await;
    // One client's failures do not lock out another client of the same proxy…
    let other = admin_after_failures_from(&h, "203.0.113.5", "203.0.113.6").await;
    assert_eq!(other, StatusCode::SEE_OTHER);
    // …but they do lock out that client.
    let same = admin_after_failures_from(&h, "198.51.100.1", "198.51.100.1").await;
    assert_eq!(same, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_a_trusted_proxy_x_forwarded_for_is_ignored() {
    let h = Harness::new().await;
    // A client cannot escape its address's limit by writing the header itself.
    let status = admin_after_failures_from(&h, "203.0.113.5", "203.0.113.6").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
