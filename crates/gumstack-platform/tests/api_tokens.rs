//! API tokens with a lifecycle: they expire (the injected clock moves, nothing sleeps), are
//! listed without the token, record their last use at most once a minute, are revoked by their
//! owner (or an admin; anyone else gets a 404), act with their user's current role, and end
//! with a password reset or a demotion below the role they were made under.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::dashboard;
use common::{Harness, Reply};
use gumstack_platform::clock::{Clock as _, ManualClock};
use gumstack_platform::store::{Role, User};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

const DAY: i64 = 24 * 3600;

async fn with_clock() -> (Harness, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let injected = Arc::clone(&clock);
    let h = Harness::build_with(move |options| options.clock = injected).await;
    (h, clock)
}

async fn token(h: &Harness, user: &User, name: &str, days: Option<u32>) -> String {
    h.platform
        .state
        .api_tokens
        .create(user, name, days)
        .await
        .unwrap()
        .token
        .expose_secret()
        .to_owned()
}

async fn list(h: &Harness, token: &str) -> Vec<Value> {
    let reply = h.api(Method::GET, "/api/tokens", Some(token), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["tokens"].as_array().unwrap().clone()
}

fn named<'a>(tokens: &'a [Value], name: &str) -> &'a Value {
    tokens
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no token {name} in {tokens:?}"))
}

/// Any call only an authenticated caller gets a 200 for.
async fn works(h: &Harness, token: &str) -> bool {
    let reply = h.api(Method::GET, "/api/tokens", Some(token), None).await;
    match reply.status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("unexpected {other}: {}", reply.text),
    }
}

async fn api_tokens(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM api_tokens").await
}

#[tokio::test]
async fn a_token_works_until_it_expires_and_the_default_is_ninety_days() {
    let (h, clock) = with_clock().await;
    let two_days = token(&h, &h.admin, "short", Some(2)).await;
    let default = token(&h, &h.admin, "default", None).await;
    let now = clock.now();
    let tokens = list(&h, &default).await;
    assert_eq!(named(&tokens, "short")["expires_at"], now + 2 * DAY);
    assert_eq!(named(&tokens, "default")["expires_at"], now + 90 * DAY);

    clock.advance(2 * DAY - 1);
    assert!(works(&h, &two_days).await);
    clock.advance(1);
    assert!(!works(&h, &two_days).await, "expired");
    let reply = h
        .api(Method::GET, "/api/servers", Some(&two_days), None)
        .await;
    reply.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated", "unexpired");

    // Still listed, marked expired, until someone revokes it.
    let tokens = list(&h, &default).await;
    assert_eq!(named(&tokens, "short")["expired"], true);
    assert_eq!(named(&tokens, "default")["expired"], false);

    clock.advance(88 * DAY - 1);
    assert!(works(&h, &default).await);
    clock.advance(1);
    assert!(!works(&h, &default).await);
}

#[tokio::test]
async fn the_lifetime_is_bounded_and_the_name_checked() {
    let (h, _) = with_clock().await;
    let before = api_tokens(&h).await;
    let tokens = &h.platform.state.api_tokens;
    for days in [0, 366, u32::MAX] {
        let err = tokens.create(&h.admin, "x", Some(days)).await.unwrap_err();
        assert!(err.to_string().contains("1 to 365 days"), "{err}");
    }
    for name in ["", "   ", "a\nb", &"n".repeat(101)] {
        let err = tokens.create(&h.admin, name, None).await.unwrap_err();
        assert!(err.to_string().contains("token name"), "{err}");
    }
    assert!(tokens.create(&h.admin, "ok", Some(365)).await.is_ok());
    assert_eq!(
        api_tokens(&h).await,
        before + 1,
        "refused ones stored nothing"
    );
}

#[tokio::test]
async fn the_list_shows_name_times_and_user_never_the_token() {
    let (h, clock) = with_clock().await;
    let secret = token(&h, &h.admin, "deploy <script>", Some(30)).await;
    let reply = h.api(Method::GET, "/api/tokens", Some(&secret), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.text.contains(&secret), "the token is never listed");
    assert!(!reply.text.contains("hash"), "{}", reply.text);
    let t = named(
        &reply.json()["tokens"].as_array().unwrap().clone(),
        "deploy <script>",
    )
    .clone();
    let now = clock.now();
    assert_eq!(t["created_at"], now);
    assert_eq!(t["last_used_at"], now, "the listing call itself used it");
    assert_eq!(t["expires_at"], now + 30 * DAY);
    assert_eq!(t["user"]["email"], h.admin.email);
    assert_eq!(t["created_as"], "admin");
    assert!(t["id"].as_str().unwrap().len() == 36);
}

#[tokio::test]
async fn the_last_use_is_written_at_most_once_a_minute() {
    let (h, clock) = with_clock().await;
    let secret = token(&h, &h.admin, "busy", None).await;
    let last_used = || async {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT last_used_at FROM api_tokens WHERE name = 'busy'",
        )
        .fetch_one(h.store.pool())
        .await
        .unwrap()
    };
    assert_eq!(last_used().await, None);
    let start = clock.now();
    assert!(works(&h, &secret).await);
    assert_eq!(last_used().await, Some(start));
    clock.advance(59);
    assert!(works(&h, &secret).await);
    assert_eq!(
        last_used().await,
        Some(start),
        "not rewritten within the minute"
    );
    clock.advance(1);
    assert!(works(&h, &secret).await);
    assert_eq!(last_used().await, Some(start + 60));
}

#[tokio::test]
async fn the_owner_revokes_a_token_and_it_stops_working() {
    let h = Harness::new().await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    let spare = token(&h, &bob, "spare", None).await;
    let id = named(&list(&h, &bob_token).await, "spare")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = h
        .api(
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert!(!works(&h, &spare).await);
    assert!(works(&h, &bob_token).await, "the other token is untouched");
    // Gone: a second revoke is a 404.
    let again = h
        .api(
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            Some(&bob_token),
            None,
        )
        .await;
    again.assert_error(StatusCode::NOT_FOUND, "not_found", "no such API token");
}

#[tokio::test]
async fn only_an_admin_sees_and_revokes_other_users_tokens() {
    let h = Harness::new().await;
    let (_, member_token) = h.user_with_token("mia@example.com", Role::Member).await;
    let (_, dev_token) = h.user_with_token("dev@example.com", Role::Developer).await;

    let mine = list(&h, &member_token).await;
    assert_eq!(mine.len(), 1, "a member sees only their own: {mine:?}");
    assert_eq!(mine[0]["user"]["email"], "mia@example.com");
    let all = list(&h, &h.admin_token).await;
    assert_eq!(all.len(), 3, "an admin sees everyone's");

    let admins_id = all
        .iter()
        .find(|t| t["user"]["email"] == h.admin.email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let devs_id = all
        .iter()
        .find(|t| t["user"]["email"] == "dev@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Not theirs: 404, as if it did not exist; nothing changed.
    let refused = h
        .api(
            Method::DELETE,
            &format!("/api/tokens/{admins_id}"),
            Some(&member_token),
            None,
        )
        .await;
    refused.assert_error(StatusCode::NOT_FOUND, "not_found", "no such API token");
    assert!(works(&h, &h.admin_token).await);
    // An admin revokes anyone's.
    let reply = h
        .admin_api(Method::DELETE, &format!("/api/tokens/{devs_id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert!(!works(&h, &dev_token).await);
}

#[tokio::test]
async fn malformed_and_unknown_token_ids() {
    let h = Harness::new().await;
    let before = api_tokens(&h).await;
    let reply = h
        .admin_api(Method::DELETE, "/api/tokens/not-a-uuid", None)
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_id", "not a token id");
    let reply = h
        .admin_api(
            Method::DELETE,
            &format!("/api/tokens/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found", "no such API token");
    assert_eq!(api_tokens(&h).await, before);
}

#[tokio::test]
async fn a_token_cannot_make_another_token() {
    let h = Harness::new().await;
    let before = api_tokens(&h).await;
    let reply = h
        .admin_api(
            Method::POST,
            "/api/tokens",
            Some(json!({ "name": "longer-lived" })),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        reply.text
    );
    assert_eq!(api_tokens(&h).await, before);
}

#[tokio::test]
async fn a_token_acts_with_its_users_current_role() {
    let h = Harness::new().await;
    let (member, member_token) = h.user_with_token("mia@example.com", Role::Member).await;
    // A member's token does nothing admin-only or developer-only: the API answers as for a
    // member.
    let users = h
        .api(Method::GET, "/api/users", Some(&member_token), None)
        .await;
    users.assert_error(StatusCode::FORBIDDEN, "forbidden", "your role (member)");
    let create = h
        .api(
            Method::POST,
            "/api/servers",
            Some(&member_token),
            Some(json!({ "config_yaml": common::NONE_CONFIG, "slug": "nope" })),
        )
        .await;
    create.assert_error(StatusCode::FORBIDDEN, "forbidden", "your role (member)");
    assert_eq!(dashboard::servers(&h).await, 0);

    // Promoted: the same token now acts as an admin.
    let reply = h
        .admin_api(
            Method::PATCH,
            &format!("/api/users/{}", member.id),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["api_tokens_ended"], 0);
    let users = h
        .api(Method::GET, "/api/users", Some(&member_token), None)
        .await;
    assert_eq!(users.status, StatusCode::OK, "{}", users.text);
}

#[tokio::test]
async fn a_demotion_ends_the_tokens_of_the_role_the_user_lost() {
    let h = Harness::new().await;
    let (dev, dev_era) = h.user_with_token("dev@example.com", Role::Developer).await;
    // Promoted to admin, then a token made as admin.
    h.platform
        .state
        .accounts
        .set_role(dev.id, Role::Admin)
        .await
        .unwrap();
    let dev = h.platform.state.store.user_by_id(dev.id).await.unwrap();
    let admin_era = token(&h, &dev, "admin-era", None).await;

    let reply = h
        .admin_api(
            Method::PATCH,
            &format!("/api/users/{}", dev.id),
            Some(json!({ "role": "developer" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["api_tokens_ended"], 1);
    assert!(!works(&h, &admin_era).await, "the admin token ended");
    // The token made as a developer lives on, as a developer.
    let servers = h
        .api(Method::GET, "/api/servers", Some(&dev_era), None)
        .await;
    assert_eq!(servers.status, StatusCode::OK, "{}", servers.text);
    let users = h.api(Method::GET, "/api/users", Some(&dev_era), None).await;
    users.assert_error(StatusCode::FORBIDDEN, "forbidden", "your role (developer)");

    // Down to member: the developer's token ends too.
    let reply = h
        .admin_api(
            Method::PATCH,
            &format!("/api/users/{}", dev.id),
            Some(json!({ "role": "member" })),
        )
        .await;
    assert_eq!(reply.json()["api_tokens_ended"], 1);
    assert!(!works(&h, &dev_era).await);
}

#[tokio::test]
async fn demoting_the_last_admin_is_refused_and_ends_nothing() {
    let h = Harness::new().await;
    let reply = h
        .admin_api(
            Method::PATCH,
            &format!("/api/users/{}", h.admin.id),
            Some(json!({ "role": "member" })),
        )
        .await;
    reply.assert_error(StatusCode::CONFLICT, "last_admin", "only admin");
    assert!(works(&h, &h.admin_token).await);
    let bad = h
        .admin_api(
            Method::PATCH,
            "/api/users/xyz",
            Some(json!({ "role": "member" })),
        )
        .await;
    bad.assert_error(StatusCode::BAD_REQUEST, "invalid_id", "not a user id");
    let unknown = h
        .admin_api(
            Method::PATCH,
            &format!("/api/users/{}", uuid::Uuid::new_v4()),
            Some(json!({ "role": "member" })),
        )
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "not_found", "no such user");
}

#[tokio::test]
async fn a_password_reset_ends_the_users_tokens() {
    let h = Harness::new().await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    let (_, other) = h.user_with_token("eve@example.com", Role::Developer).await;
    h.platform
        .state
        .accounts
        .reset_password(&bob.email, None)
        .await
        .unwrap();
    assert!(!works(&h, &bob_token).await);
    assert!(works(&h, &other).await, "only bob's tokens ended");
}

/// The dashboard page: make a token (shown once), see it listed, revoke it.
#[tokio::test]
async fn the_dashboard_makes_lists_and_revokes_tokens() {
    let h = Harness::new().await;
    let (_, cookie, csrf) = dashboard::user(&h, "mia@example.com", Role::Member).await;
    let created = h
        .form(
            "/tokens",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "laptop"), ("days", "7")],
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created
        .text
        .split("id=\"new-token-value\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the token, shown once")
        .to_owned();
    assert!(secret.starts_with("gsk_"));
    assert!(works(&h, &secret).await);

    let page = h.get("/tokens", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("laptop"));
    assert!(!page.text.contains(&secret), "shown only once");
    assert!(
        !page.text.contains(&h.admin.email),
        "a member does not see the admin's tokens"
    );

    // Bad input goes back into the form, nothing stored.
    let before = api_tokens(&h).await;
    let bad: Reply = h
        .form(
            "/tokens",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "x"), ("days", "forever")],
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("whole number of days"), "{}", bad.text);
    assert_eq!(api_tokens(&h).await, before);

    // Someone else's token: 404, nothing changed.
    let admins: String = sqlx::query_scalar("SELECT id FROM api_tokens WHERE user_id = ?")
        .bind(h.admin.id.to_string())
        .fetch_one(h.store.pool())
        .await
        .unwrap();
    let refused = h
        .form(
            &format!("/tokens/{admins}/revoke"),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(works(&h, &h.admin_token).await);

    let id = named(&list(&h, &secret).await, "laptop")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = h
        .form(
            &format!("/tokens/{id}/revoke"),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    dashboard::assert_redirect(&revoked, "/tokens?done=revoked");
    assert!(!works(&h, &secret).await);
}
