//! Reading the activity log: who sees which calls (pages, API, CSV), the filters and their
//! errors, paging, the seven-day stats and the count of lost records. The records are written
//! into the database as the activity writer would write them.

mod common;

use axum::http::{Method, StatusCode};
use common::Harness;
use common::dashboard;
use gumstack_platform::store::{Role, User};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

struct Call<'a> {
    server: &'a str,
    user: &'a User,
    tool: &'a str,
    status: &'a str,
    ago_ms: i64,
    duration_us: i64,
    input: &'a str,
    output: &'a str,
    error: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn new(server: &'a str, user: &'a User, tool: &'a str, status: &'a str) -> Self {
        Self {
            server,
            user,
            tool,
            status,
            ago_ms: MINUTE_MS,
            duration_us: 1_000,
            input: "{\"q\":1}",
            output: "{\"content\":[]}",
            error: None,
        }
    }
}

/// Writes a call as the activity writer does; returns its id.
async fn record(h: &Harness, call: Call<'_>) -> i64 {
    let server_id: String = sqlx::query_scalar("SELECT id FROM servers WHERE slug = ?")
        .bind(call.server)
        .fetch_one(h.store.pool())
        .await
        .unwrap();
    let now_ms = h.platform.state.clock.now() * 1000;
    sqlx::query_scalar(
        "INSERT INTO activity (server_id, user_id, client_id, tool, status, started_at, \
         duration_us, input, input_truncated, output, output_truncated, error) \
         VALUES (?, ?, 'client-1', ?, ?, ?, ?, ?, 0, ?, 0, ?) RETURNING id",
    )
    .bind(server_id)
    .bind(call.user.id.to_string())
    .bind(call.tool)
    .bind(call.status)
    .bind(now_ms - call.ago_ms)
    .bind(call.duration_us)
    .bind(call.input)
    .bind(call.output)
    .bind(call.error)
    .fetch_one(h.store.pool())
    .await
    .unwrap()
}

/// An admin, a developer who owns `mine`, a member, and `theirs` owned by the admin; calls:
/// the member to `mine` (`a`, success) and to `theirs` (`b`, denied), the admin to `theirs`
/// (`c`, error), the developer to `theirs` (`d`, success).
struct World {
    h: Harness,
    developer: User,
    developer_token: String,
    member: User,
    member_token: String,
    ids: [i64; 4],
}

async fn world() -> World {
    let h = Harness::new().await;
    let (developer, developer_token) = h.user_with_token("dev@example.com", Role::Developer).await;
    let (member, member_token) = h.user_with_token("member@example.com", Role::Member).await;
    let created = h
        .api(
            Method::POST,
            "/api/servers",
            Some(&developer_token),
            Some(serde_json::json!({
                "config_yaml": common::NONE_CONFIG,
                "slug": "mine",
                "runtime": { "command": "/bin/true" }
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    h.create_server(common::NONE_CONFIG, "theirs").await;
    let admin = h.admin.clone();
    let a = record(&h, Call::new("mine", &member, "a", "success")).await;
    let b = record(&h, Call::new("theirs", &member, "b", "denied")).await;
    let mut c = Call::new("theirs", &admin, "c", "error");
    c.error = Some("the upstream API said no");
    let c = record(&h, c).await;
    let d = record(&h, Call::new("theirs", &developer, "d", "success")).await;
    World {
        h,
        developer,
        developer_token,
        member,
        member_token,
        ids: [a, b, c, d],
    }
}

fn tools(reply: &common::Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut tools: Vec<String> = reply.json()["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tool"].as_str().unwrap().to_owned())
        .collect();
    tools.sort();
    tools
}

#[tokio::test]
async fn each_role_reads_the_calls_it_may_see() {
    let w = world().await;
    let h = &w.h;
    let all = h.admin_api(Method::GET, "/api/activity", None).await;
    assert_eq!(tools(&all), ["a", "b", "c", "d"]);
    let member = h
        .api(Method::GET, "/api/activity", Some(&w.member_token), None)
        .await;
    assert_eq!(tools(&member), ["a", "b"], "a member sees their own calls");
    let developer = h
        .api(Method::GET, "/api/activity", Some(&w.developer_token), None)
        .await;
    assert_eq!(
        tools(&developer),
        ["a", "d"],
        "a developer sees their own calls and those to their server"
    );

    // One call: the admin's error, with its body, only for who may see it.
    let uri = format!("/api/activity/{}", w.ids[2]);
    let call = h.admin_api(Method::GET, &uri, None).await;
    assert_eq!(call.status, StatusCode::OK, "{}", call.text);
    let json = call.json();
    assert_eq!(json["call"]["status"], "error");
    assert_eq!(json["call"]["error"], "the upstream API said no");
    assert_eq!(json["call"]["input"], "{\"q\":1}");
    for token in [&w.member_token, &w.developer_token] {
        let hidden = h.api(Method::GET, &uri, Some(token), None).await;
        hidden.assert_error(StatusCode::NOT_FOUND, "not_found", "no call");
    }
    let nonsense = h.admin_api(Method::GET, "/api/activity/x1", None).await;
    nonsense.assert_error(StatusCode::NOT_FOUND, "not_found", "no call");

    // The same on the pages.
    let (cookie, _) = h.session_for(&w.member).await;
    let page = h
        .get(&format!("/activity/{}", w.ids[2]), Some(&cookie))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.text);
    assert!(!page.text.contains("the upstream API said no"));
    let own = h
        .get(&format!("/activity/{}", w.ids[1]), Some(&cookie))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert!(own.text.contains("Permission Denied"), "{}", own.text);
    let list = h.get("/activity", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(list.text.contains("<code>a</code>") && list.text.contains("<code>b</code>"));
    assert!(!list.text.contains("<code>c</code>"), "{}", list.text);
    assert!(!list.text.contains("<code>d</code>"), "{}", list.text);

    // A user's calls: an admin reads anyone's, a member only their own.
    let theirs = format!("/users/{}/activity", w.developer.id);
    let refused = h.get(&theirs, Some(&cookie)).await;
    dashboard::assert_forbidden(&refused);
    let (admin_cookie, _) = dashboard::admin(h).await;
    let read = h.get(&theirs, Some(&admin_cookie)).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert!(read.text.contains("Calls of dev@example.com"));
    assert!(read.text.contains("<code>d</code>") && !read.text.contains("<code>a</code>"));
    let mine = h
        .get(&format!("/users/{}/activity", w.member.id), Some(&cookie))
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
}

#[tokio::test]
async fn filters_narrow_and_bad_filters_are_refused() {
    let w = world().await;
    let h = &w.h;
    let get = |query: &str| {
        let uri = format!("/api/activity?{query}");
        async move { h.admin_api(Method::GET, &uri, None).await }
    };
    assert_eq!(tools(&get("status=denied").await), ["b"]);
    assert_eq!(tools(&get("server=mine").await), ["a"]);
    assert_eq!(tools(&get("tool=c").await), ["c"]);
    assert_eq!(tools(&get("user=member%40example.com").await), ["a", "b"]);
    assert_eq!(tools(&get("server=theirs&status=success").await), ["d"]);
    // Unknown names match nothing rather than telling who exists.
    assert!(tools(&get("user=nobody%40example.com").await).is_empty());
    assert!(tools(&get("server=nowhere").await).is_empty());
    assert!(tools(&get("status=in_progress").await).is_empty());

    // Days: today's calls are in a period that includes today, not in one that ends before.
    let today = time::OffsetDateTime::from_unix_timestamp(h.platform.state.clock.now())
        .unwrap()
        .date();
    let yesterday = today.previous_day().unwrap();
    assert_eq!(
        tools(&get(&format!("from={today}&to={today}")).await).len(),
        4
    );
    assert!(tools(&get(&format!("to={yesterday}")).await).is_empty());

    for (query, fragment) in [
        ("status=crashed", "`status` must be one of"),
        ("from=2026-02-30", "`from` must be a date"),
        ("to=tomorrow", "`to` must be a date"),
        ("from=2026-12-08&to=2026-12-07", "`from` is after `to`"),
        ("before=12", "`before` is not a page position"),
        ("limit=0", "`limit` must be a number from 1 to 200"),
        ("limit=201", "`limit` must be a number from 1 to 200"),
    ] {
        get(query)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_filter", fragment);
    }
    let long_tool = format!("tool={}", "t".repeat(201));
    get(&long_tool).await.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_filter",
        "longer than 200",
    );

    // The page shows the same refusal as a page.
    let (cookie, _) = dashboard::admin(h).await;
    let page = h.get("/activity?status=crashed", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(
        page.text.contains("`status` must be one of"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps_or_repeats() {
    let h = Harness::new().await;
    h.create_server(common::NONE_CONFIG, "busy").await;
    let admin = h.admin.clone();
    for i in 0..120 {
        let mut call = Call::new("busy", &admin, "t", "success");
        // Pairs share a start time: the id breaks the tie.
        call.ago_ms = (i / 2) * 1000;
        record(&h, call).await;
    }
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let uri = match &next {
            Some(before) => format!("/api/activity?limit=50&before={before}"),
            None => "/api/activity?limit=50".to_owned(),
        };
        let reply = h.admin_api(Method::GET, &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let json = reply.json();
        for call in json["calls"].as_array().unwrap() {
            seen.push(call["id"].as_i64().unwrap());
        }
        match json["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 120, "no call twice");

    // The page links to the older calls, and from there back to the newest.
    let (cookie, _) = dashboard::admin(&h).await;
    let first = h.get("/activity", Some(&cookie)).await;
    assert_eq!(first.status, StatusCode::OK);
    let older = first
        .text
        .split("href=\"")
        .find_map(|rest| {
            let link = &rest[..rest.find('"')?];
            link.contains("before=").then(|| link.replace("&amp;", "&"))
        })
        .expect("a link to the older calls");
    let second = h.get(&older, Some(&cookie)).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.text.contains("Newest calls"));
}

#[tokio::test]
async fn stats_count_the_last_seven_days() {
    let h = Harness::new().await;
    h.create_server(common::NONE_CONFIG, "timed").await;
    let (member, _) = h.user_with_token("m@example.com", Role::Member).await;
    let admin = h.admin.clone();
    // Latencies 1..=20 ms by the admin, one error and two denied calls by the member, and an
    // old call that the stats leave out.
    for ms in 1..=20 {
        let mut call = Call::new("timed", &admin, "t", "success");
        call.duration_us = ms * 1000;
        record(&h, call).await;
    }
    let mut error = Call::new("timed", &member, "t", "error");
    error.duration_us = 5_000;
    record(&h, error).await;
    for _ in 0..2 {
        let mut denied = Call::new("timed", &member, "t", "denied");
        denied.duration_us = 900_000_000;
        record(&h, denied).await;
    }
    let mut old = Call::new("timed", &member, "t", "error");
    old.ago_ms = 8 * DAY_MS;
    record(&h, old).await;

    let reply = h
        .admin_api(Method::GET, "/api/activity/stats?server=timed", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let stats = &reply.json()["stats"];
    assert_eq!(stats["days"], 7);
    assert_eq!(stats["calls"], 23);
    assert_eq!(stats["users"], 2);
    assert_eq!(stats["errors"], 1);
    assert_eq!(stats["denied"], 2);
    let rate = stats["error_rate"].as_f64().unwrap();
    assert!((rate - 100.0 / 23.0).abs() < 1e-9, "{rate}");
    // 21 timed calls: 1..=20 ms and one of 5 ms; denied calls have no latency of the server.
    assert_eq!(stats["latency_ms"]["p50"], 10.0);
    assert_eq!(stats["latency_ms"]["p95"], 19.0);
    assert_eq!(stats["lost_records"], 0);

    // The Overview and the Activity page show them too.
    let (cookie, _) = dashboard::admin(&h).await;
    let overview = h.get("/servers/timed", Some(&cookie)).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text);
    assert!(overview.text.contains("Last 7 days"), "{}", overview.text);
    assert!(overview.text.contains("<dd>23</dd>"), "{}", overview.text);
    assert!(overview.text.contains("4.3 %"), "{}", overview.text);
    assert!(overview.text.contains("Recent calls"));
    let tab = h.get("/servers/timed/activity", Some(&cookie)).await;
    assert_eq!(tab.status, StatusCode::OK, "{}", tab.text);
    assert!(
        tab.text.contains("aria-current=\"page\">Activity"),
        "{}",
        tab.text
    );
}

#[tokio::test]
async fn lost_records_are_shown() {
    let h = Harness::new().await;
    let now_ms = h.platform.state.clock.now() * 1000;
    sqlx::query("INSERT INTO activity_lost (at, records) VALUES (?, 17), (?, 5)")
        .bind(now_ms - MINUTE_MS)
        .bind(now_ms - 9 * DAY_MS)
        .execute(h.store.pool())
        .await
        .unwrap();
    let reply = h.admin_api(Method::GET, "/api/activity/stats", None).await;
    assert_eq!(reply.json()["stats"]["lost_records"], 17);
    let (cookie, _) = dashboard::admin(&h).await;
    let page = h.get("/activity", Some(&cookie)).await;
    assert!(
        page.text.contains("17 call records were lost"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn the_export_streams_what_the_reader_may_see_as_safe_csv() {
    let w = world().await;
    let h = &w.h;
    let mut formula = Call::new("mine", &w.member, "e", "success");
    formula.input = "=HYPERLINK(\"http://evil.example\",\"click\")";
    formula.output = "line one,\nline \"two\"";
    record(h, formula).await;

    let (cookie, _) = h.session_for(&w.member).await;
    let reply = h.get("/activity.csv?server=mine", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        reply.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    let mut lines = reply.text.split("\r\n");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,started_at,server,tool,user")
    );
    assert!(
        reply
            .text
            .contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\""),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("\"line one,\nline \"\"two\"\"\""));
    // The member's two calls to `mine`; nobody else's.
    assert_eq!(reply.text.matches(",mine,").count(), 2, "{}", reply.text);
    assert!(!reply.text.contains("the upstream API said no"));

    // The API's export is the same, for an API token.
    let api = h
        .api(
            Method::GET,
            "/api/activity/export?status=error",
            Some(&h.admin_token),
            None,
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text);
    assert!(
        api.text.contains("the upstream API said no"),
        "{}",
        api.text
    );
    assert_eq!(api.text.trim_end().lines().count(), 2, "{}", api.text);

    // Many calls: every one is exported once, across the batches the export reads.
    let admin = h.admin.clone();
    for _ in 0..1200 {
        record(h, Call::new("theirs", &admin, "bulk", "success")).await;
    }
    let bulk = h
        .admin_api(Method::GET, "/api/activity/export?tool=bulk", None)
        .await;
    assert_eq!(bulk.text.trim_end().split("\r\n").count(), 1201);
}
