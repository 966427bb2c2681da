//! The markup every dashboard page shares, in-process: one h1, headings that skip no level,
//! labelled inputs, a skip link and a viewport.

mod common;

use axum::http::StatusCode;
use common::dashboard::admin;
use common::{CRED_CONFIG, Harness};

#[tokio::test]
async fn every_dashboard_page_has_one_h1_labelled_inputs_and_a_skip_link() {
    let h = Harness::new().await;
    h.create_server(CRED_CONFIG, "keys").await;
    h.platform
        .state
        .servers
        .set_env("keys", "API_BASE", &"https://x".to_owned().into())
        .await
        .unwrap();
    let (cookie, _) = admin(&h).await;
    for page in [
        "/",
        "/new",
        "/servers/keys",
        "/servers/keys/settings",
        "/servers/keys/delete",
        "/users",
        "/clients",
    ] {
        let reply = h.get(page, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}");
        let text = &reply.text;
        assert_eq!(text.matches("<h1").count(), 1, "{page}: one h1");
        assert!(text.contains("href=\"#main\""), "{page}: skip link");
        assert!(text.contains("name=\"viewport\""), "{page}");
        // Every visible input has a label pointing at its id.
        for input in text
            .split("<input ")
            .skip(1)
            .chain(text.split("<textarea ").skip(1))
            .chain(text.split("<select ").skip(1))
        {
            let tag = input.split('>').next().unwrap();
            if tag.contains("type=\"hidden\"") || tag.contains("type=\"submit\"") {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .unwrap_or_else(|| panic!("{page}: an input without id: {tag}"));
            assert!(
                text.contains(&format!("for=\"{id}\"")),
                "{page}: no label for {id}"
            );
        }
        // Headings do not skip a level.
        let mut last = 1;
        for part in text.split("<h").skip(1) {
            if let Some(level) = part.chars().next().and_then(|c| c.to_digit(10)) {
                assert!(level <= last + 1, "{page}: h{level} after h{last}");
                last = level;
            }
        }
    }
}
