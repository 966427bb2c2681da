//! The Permission groups pages, in-process: an admin adds a group, moves a member into it,
//! keeps it off one tool of a server, renames and deletes it; what the pages save is what the
//! API reads; members and developers get 403 pages and their posts change nothing; bad input
//! gets a clear answer and changes nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::dashboard::{admin, assert_forbidden, assert_redirect, user};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::store::Role;
use serde_json::json;

async fn group_ids(h: &Harness) -> Vec<(String, String)> {
    h.admin_api(Method::GET, "/api/groups", None).await.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_owned(),
                g["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_admin_manages_a_group_from_the_pages() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (member, _, _) = user(&h, "m@example.com", Role::Member).await;
    let (cookie, csrf) = admin(&h).await;

    let list = h.get("/groups", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(list.text.contains("Default"));

    let created = h
        .form(
            "/groups",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "Interns")],
            &[],
        )
        .await;
    assert_redirect(&created, "/groups/");
    let (_, interns) = group_ids(&h)
        .await
        .into_iter()
        .find(|(n, _)| n == "Interns")
        .unwrap();

    let moved = h
        .form(
            &format!("/groups/{interns}/members"),
            Some(&cookie),
            &[("csrf", &csrf), ("user", &member.id.to_string())],
            &[],
        )
        .await;
    assert_redirect(&moved, &format!("/groups/{interns}?done=moved"));

    let saved = h
        .form(
            &format!("/groups/{interns}/servers/greeter"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("enabled", "on"),
                ("default", "allow"),
                ("deny", "greet, env_names"),
            ],
            &[],
        )
        .await;
    assert_redirect(&saved, &format!("/groups/{interns}?done=saved"));
    let access = h
        .admin_api(
            Method::GET,
            &format!("/api/groups/{interns}/servers/greeter"),
            None,
        )
        .await;
    assert_eq!(
        access.json()["access"],
        json!({ "enabled": true, "default": "allow", "tools": { "greet": "deny", "env_names": "deny" } })
    );

    let page = h.get(&format!("/groups/{interns}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("m@example.com"), "the member is listed");
    for tool in ["greet", "env_names"] {
        let select = page
            .text
            .split(&format!("name=\"tool:{tool}\""))
            .nth(1)
            .and_then(|rest| rest.split("</select>").next())
            .unwrap_or_else(|| panic!("a choice for {tool}: {}", page.text));
        assert!(
            select.contains("<option value=\"deny\" selected>"),
            "{tool}: {select}"
        );
    }

    // Unticking the box keeps the whole group off the server.
    h.form(
        &format!("/groups/{interns}/servers/greeter"),
        Some(&cookie),
        &[("csrf", &csrf), ("default", "deny"), ("allow", "")],
        &[],
    )
    .await;
    let access = h
        .admin_api(
            Method::GET,
            &format!("/api/groups/{interns}/servers/greeter"),
            None,
        )
        .await;
    assert_eq!(access.json()["access"]["enabled"], false);

    let renamed = h
        .form(
            &format!("/groups/{interns}/rename"),
            Some(&cookie),
            &[("csrf", &csrf), ("name", "Trainees")],
            &[],
        )
        .await;
    assert_redirect(&renamed, &format!("/groups/{interns}?done=renamed"));
    let deleted = h
        .form(
            &format!("/groups/{interns}/delete"),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_redirect(&deleted, "/groups?done=deleted");
    assert_eq!(group_ids(&h).await.len(), 1);
    let member = h.platform.state.store.user_by_id(member.id).await.unwrap();
    assert_eq!(member.group_id.to_string(), group_ids(&h).await[0].1);
}

#[tokio::test]
async fn bad_input_on_the_group_pages_changes_nothing() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (cookie, csrf) = admin(&h).await;
    let default = group_ids(&h).await[0].1.clone();

    let taken = h
        .form(
            "/groups",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "Default")],
            &[],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert!(
        taken
            .text
            .contains("a group with the name `Default` exists"),
        "{}",
        taken.text
    );
    assert!(
        taken.text.contains("value=\"Default\""),
        "the typed name is kept"
    );

    let blank = h
        .form(
            "/groups",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "  ")],
            &[],
        )
        .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST, "{}", blank.text);

    let undeletable = h
        .form(
            &format!("/groups/{default}/delete"),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(
        undeletable.status,
        StatusCode::CONFLICT,
        "{}",
        undeletable.text
    );

    let bad_tool = h
        .form(
            &format!("/groups/{default}/servers/greeter"),
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("enabled", "on"),
                ("default", "allow"),
                ("deny", &"x".repeat(200)),
            ],
            &[],
        )
        .await;
    assert_eq!(
        bad_tool.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_tool.text
    );
    let bad_default = h
        .form(
            &format!("/groups/{default}/servers/greeter"),
            Some(&cookie),
            &[("csrf", &csrf), ("default", "sometimes")],
            &[],
        )
        .await;
    assert_eq!(
        bad_default.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_default.text
    );
    assert_eq!(
        h.get("/groups/not-a-group", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get(&format!("/groups/{}", uuid::Uuid::new_v4()), Some(&cookie))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A form without the session's CSRF token is refused before anything happens.
    let forged = h
        .form(
            "/groups",
            Some(&cookie),
            &[("csrf", "forged"), ("name", "Forged")],
            &[],
        )
        .await;
    assert_forbidden(&forged);
    assert_eq!(group_ids(&h).await.len(), 1, "nothing was created");
    let access = h
        .admin_api(
            Method::GET,
            &format!("/api/groups/{default}/servers/greeter"),
            None,
        )
        .await;
    assert_eq!(access.json()["access"]["tools"], json!({}));
}

#[tokio::test]
async fn members_and_developers_may_not_manage_groups() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let default = group_ids(&h).await[0].1.clone();
    for role in [Role::Member, Role::Developer] {
        let (_, cookie, csrf) = user(&h, &format!("{}@example.com", role.as_str()), role).await;
        assert_forbidden(&h.get("/groups", Some(&cookie)).await);
        assert_forbidden(&h.get(&format!("/groups/{default}"), Some(&cookie)).await);
        assert!(
            !h.get("/", Some(&cookie))
                .await
                .text
                .contains("href=\"/groups\"")
        );
        for (uri, pairs) in [
            ("/groups".to_owned(), vec![("name", "Mine")]),
            (
                format!("/groups/{default}/servers/greeter"),
                vec![("default", "deny")],
            ),
            (format!("/groups/{default}/rename"), vec![("name", "Mine")]),
        ] {
            let mut pairs = pairs;
            pairs.push(("csrf", &csrf));
            assert_forbidden(&h.form(&uri, Some(&cookie), &pairs, &[]).await);
        }
    }
    assert_eq!(
        group_ids(&h).await,
        vec![("Default".to_owned(), default.clone())]
    );
    let access = h
        .admin_api(
            Method::GET,
            &format!("/api/groups/{default}/servers/greeter"),
            None,
        )
        .await;
    assert_eq!(access.json()["access"]["default"], "allow");
}
