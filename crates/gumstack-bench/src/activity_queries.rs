//! `gumstack-bench-activity`: how fast the activity log's views answer on a large log (a
//! benchmark, not a test; docs/BENCHMARKS.md).
//!
//! It fills a temporary SQLite database through the platform's own migrations with `--records`
//! calls (100 000 by default) spread over 20 servers, 200 users, 10 tools per server and 30
//! days, then times each view's query as the dashboard and the API run it (the platform's
//! store, the same SQL) and prints a Markdown table: median and worst of `--runs` runs, the
//! rows returned, and the index SQLite chose.
//!
//! ```text
//! cargo run --release -p gumstack-bench --bin gumstack-bench-activity
//! ```

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use gumstack_platform::store::sqlite::SqliteStore;
use gumstack_platform::store::{
    ActivityCursor, ActivityFilter, ActivityReads as _, CallStatus, Uuid, Visibility,
};

const SERVERS: usize = 20;
const USERS: usize = 200;
const TOOLS_PER_SERVER: usize = 10;
const DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
/// Rows a dashboard page asks for (a page and one more).
const PAGE: u32 = 51;

#[derive(Debug, Parser)]
#[command(
    name = "gumstack-bench-activity",
    about = "Activity log views on a large log: a filtered page and the 7-day stats"
)]
struct Args {
    /// Calls in the log.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Timed runs of each query.
    #[arg(long, default_value_t = 30)]
    runs: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("gumstack.db");
    let store = SqliteStore::open(&path).await.context("open the store")?;
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let started = Instant::now();
    let world = fill(&store, args.records, now_ms).await?;
    println!(
        "Filled {} calls ({} servers, {} users, {} days) in {:.1} s; database {:.1} MiB.\n",
        args.records,
        SERVERS,
        USERS,
        DAYS,
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path)?.len() as f64 / 1_048_576.0
    );

    let week = Some(now_ms - 7 * DAY_MS);
    let all = ActivityFilter::visible(Visibility::All);
    let developer = ActivityFilter::visible(Visibility::Limited {
        user_id: world.users[7],
        servers: world.servers[..3].to_vec(),
    });
    let member = ActivityFilter::visible(Visibility::Limited {
        user_id: world.users[9],
        servers: Vec::new(),
    });
    let server = ActivityFilter {
        server_id: Some(world.servers[4]),
        ..all.clone()
    };
    let server_errors = ActivityFilter {
        status: Some(CallStatus::Error),
        ..server.clone()
    };
    let user_week = ActivityFilter {
        user_id: Some(world.users[42]),
        from_ms: week,
        ..all.clone()
    };
    let tool = ActivityFilter {
        tool: Some("tool-4-7".to_owned()),
        ..all.clone()
    };
    let denied_range = ActivityFilter {
        status: Some(CallStatus::Denied),
        from_ms: Some(now_ms - 20 * DAY_MS),
        until_ms: Some(now_ms - 10 * DAY_MS),
        ..all.clone()
    };
    let deep = store.activity_page(&all, None, 1000, false).await?;
    let deep_cursor = deep.last().map(|r| r.cursor());
    let stats = |filter: &ActivityFilter| ActivityFilter {
        from_ms: week,
        ..filter.clone()
    };

    let pages: Vec<(&str, &ActivityFilter, Option<ActivityCursor>, &str)> = vec![
        ("Page: everything (admin)", &all, None, ""),
        ("Page: everything, 21st page", &all, deep_cursor, ""),
        ("Page: one server", &server, None, "a.server_id"),
        (
            "Page: one server, errors",
            &server_errors,
            None,
            "a.server_id",
        ),
        ("Page: one user, 7 days", &user_week, None, "a.user_id"),
        (
            "Page: one tool (no index of its own)",
            &tool,
            None,
            "a.tool",
        ),
        (
            "Page: denied, days 10–20 ago",
            &denied_range,
            None,
            "a.status",
        ),
        (
            "Page: a developer (own + 3 servers)",
            &developer,
            None,
            "a.user_id",
        ),
        ("Page: a member (own calls)", &member, None, "a.user_id"),
    ];
    println!("| Query | Median | Worst | Rows | Index SQLite chose |");
    println!("|---|---:|---:|---:|---|");
    for (name, filter, before, condition) in pages {
        let (times, rows) = time_runs(args.runs, || async {
            Ok(store
                .activity_page(filter, before, PAGE, false)
                .await?
                .len())
        })
        .await?;
        let plan = plan(&store, condition).await?;
        row(name, &times, rows, &plan);
    }
    let stats_queries: Vec<(&str, ActivityFilter, &str)> = vec![
        ("7-day stats: everything", stats(&all), ""),
        ("7-day stats: one server", stats(&server), "a.server_id"),
        ("7-day stats: one user", stats(&user_week), "a.user_id"),
        ("7-day stats: a member", stats(&member), "a.user_id"),
    ];
    for (name, filter, condition) in stats_queries {
        let (times, calls) = time_runs(args.runs, || async {
            Ok(usize::try_from(store.activity_stats(&filter).await?.calls)?)
        })
        .await?;
        let plan = plan(&store, condition).await?;
        row(name, &times, calls, &plan);
    }
    Ok(())
}

struct World {
    servers: Vec<Uuid>,
    users: Vec<Uuid>,
}

/// The organisation, servers, users and `records` calls, as the platform would store them.
async fn fill(store: &SqliteStore, records: usize, now_ms: i64) -> anyhow::Result<World> {
    let pool = store.pool();
    let mut tx = pool.begin().await?;
    let org = Uuid::new_v4().to_string();
    let group = Uuid::new_v4().to_string();
    let now = now_ms / 1000;
    sqlx_exec(
        &mut tx,
        "INSERT INTO orgs (id, name, created_at) VALUES (?1, 'Bench', ?2)",
        &[&org],
        now,
    )
    .await?;
    sqlx_exec(
        &mut tx,
        "INSERT INTO groups (id, org_id, name, is_default, created_at) VALUES (?1, ?2, 'Everyone', 1, ?3)",
        &[&group, &org],
        now,
    )
    .await?;
    let mut servers = Vec::new();
    for i in 0..SERVERS {
        let id = Uuid::new_v4();
        sqlx_exec(
            &mut tx,
            "INSERT INTO servers (id, slug, name, description, auth_type, config_yaml, created_at, updated_at) \
             VALUES (?1, ?2, ?2, '', 'none', 'name: x', ?3, ?3)",
            &[&id.to_string(), &format!("server-{i}")],
            now,
        )
        .await?;
        servers.push(id);
    }
    let mut users = Vec::new();
    for i in 0..USERS {
        let id = Uuid::new_v4();
        sqlx_exec(
            &mut tx,
            "INSERT INTO users (id, org_id, group_id, email, password_hash, role, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 'x', 'member', ?5, ?5)",
            &[&id.to_string(), &org, &group, &format!("user-{i}@example.com")],
            now,
        )
        .await?;
        users.push(id);
    }
    // A fixed pseudo-random spread (xorshift), so every run measures the same log.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let input = r#"{"query":"weather in Paris","units":"metric"}"#;
    let output = r#"{"content":[{"type":"text","text":"12 °C, light rain"}],"isError":false}"#;
    for _ in 0..records {
        let server = (next() % SERVERS as u64) as usize;
        let user = (next() % USERS as u64) as usize;
        let tool = format!("tool-{server}-{}", next() % TOOLS_PER_SERVER as u64);
        let status = match next() % 100 {
            0..=89 => "success",
            90..=97 => "error",
            _ => "denied",
        };
        let started = now_ms - (next() % (DAYS * DAY_MS) as u64) as i64;
        let duration_us = 200 + (next() % 50_000) as i64;
        sqlx::query(
            "INSERT INTO activity (server_id, user_id, client_id, tool, status, started_at, \
             duration_us, input, output) VALUES (?, ?, 'claude', ?, ?, ?, ?, ?, ?)",
        )
        .bind(servers[server].to_string())
        .bind(users[user].to_string())
        .bind(tool)
        .bind(status)
        .bind(started)
        .bind(duration_us)
        .bind(input)
        .bind(output)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(World { servers, users })
}

async fn sqlx_exec(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: &str,
    texts: &[&str],
    now: i64,
) -> anyhow::Result<()> {
    let mut query = sqlx::query(sql);
    for text in texts {
        query = query.bind(*text);
    }
    query.bind(now).execute(&mut **tx).await?;
    Ok(())
}

/// `runs` timed runs of `run` (after one that warms the page cache), sorted, and what the last
/// one counted.
async fn time_runs<F, Fut>(runs: usize, mut run: F) -> anyhow::Result<(Vec<Duration>, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut counted = run().await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        counted = run().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times, counted))
}

/// The index SQLite uses for a query filtered on `condition` (the leading one of a view).
async fn plan(store: &SqliteStore, condition: &str) -> anyhow::Result<String> {
    let sql = if condition.is_empty() {
        "EXPLAIN QUERY PLAN SELECT a.id FROM activity a ORDER BY a.started_at DESC, a.id DESC LIMIT 51".to_owned()
    } else {
        format!(
            "EXPLAIN QUERY PLAN SELECT a.id FROM activity a WHERE {condition} = 'x' \
             ORDER BY a.started_at DESC, a.id DESC LIMIT 51"
        )
    };
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql).fetch_all(store.pool()).await?;
    Ok(rows
        .into_iter()
        .map(|(_, _, _, detail)| detail)
        .collect::<Vec<_>>()
        .join("; "))
}

fn row(name: &str, times: &[Duration], rows: usize, plan: &str) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name} | {:.2} ms | {:.2} ms | {rows} | {plan} |",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
    );
}
