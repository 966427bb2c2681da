//! How long the gateway keeps a call live on the platform (the grant's `CallHold`): a `POST`
//! from before it is forwarded until its response has streamed whole — an event stream until
//! it closes, not when its answer goes by — or the client went away; a `GET` stream or a
//! `DELETE` never.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Router, body::Body, http::header, response::Response, routing::post};
use common::{FakeBackend, LiveCalls, TestGateway};
use tokio::sync::Notify;

/// What the upstream saw: for each request, its method and how many calls were live when it
/// arrived.
#[derive(Debug, Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<(String, usize)>>>);

/// An upstream whose `POST` answers an event stream (a first event at once, the answer when
/// `release` is notified, then the end) and whose `GET` and `DELETE` answer at once, noting
/// the live calls at each arrival.
fn upstream(live: LiveCalls, arrivals: Arrivals, release: Arc<Notify>) -> Router {
    let note = move |method: &str| {
        arrivals
            .0
            .lock()
            .unwrap()
            .push((method.to_owned(), live.now().len()));
    };
    let (on_post, on_get, on_delete) = (note.clone(), note.clone(), note);
    Router::new().route(
        "/mcp",
        post(move || {
            on_post("POST");
            let release = Arc::clone(&release);
            let events = futures_util::stream::unfold(0, move |step| {
                let release = Arc::clone(&release);
                async move {
                    let event = match step {
                        0 => r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#,
                        1 => {
                            release.notified().await;
                            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}"#
                        }
                        _ => return None,
                    };
                    Some((
                        Ok::<_, Infallible>(format!("event: message\ndata: {event}\n\n")),
                        step + 1,
                    ))
                }
            });
            async move {
                Response::builder()
                    .header(header::CONTENT_TYPE, "text/event-stream")
                    .body(Body::from_stream(events))
                    .unwrap()
            }
        })
        .get(move || {
            on_get("GET");
            async { "ok" }
        })
        .delete(move || {
            on_delete("DELETE");
            async { "" }
        }),
    )
}

async fn until_no_call_is_live(live: &LiveCalls) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !live.now().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every call ended");
}

fn call_body() -> &'static str {
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{}}}"#
}

#[tokio::test]
async fn a_streamed_post_is_live_until_its_stream_ends_and_a_get_or_delete_never() {
    let backend = FakeBackend::default();
    let live = backend.live();
    let arrivals = Arrivals::default();
    let release = Arc::new(Notify::new());
    let addr = common::serve(upstream(
        live.clone(),
        arrivals.clone(),
        Arc::clone(&release),
    ))
    .await;
    let gateway = TestGateway::start(backend.with_server("tracker", addr)).await;
    let http = reqwest::Client::new();

    let mut response = http
        .post(gateway.url("tracker"))
        .bearer_auth("token-alice")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(call_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    assert_eq!(live.now().len(), 1, "the stream is open: the call is live");
    release.notify_one();
    let mut rest = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains(r#""id":1"#), "{rest}");
    assert!(live.now().is_empty(), "the stream ended: so did the call");

    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = http
            .request(method.clone(), gateway.url("tracker"))
            .bearer_auth("token-alice")
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{method}");
        response.bytes().await.unwrap();
    }
    assert_eq!(
        *arrivals.0.lock().unwrap(),
        [
            ("POST".to_owned(), 1),
            ("GET".to_owned(), 0),
            ("DELETE".to_owned(), 0)
        ],
        "the POST was live when it reached the server; the GET and DELETE were not"
    );
    assert!(live.now().is_empty());
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_ends_its_call() {
    let backend = FakeBackend::default();
    let live = backend.live();
    let release = Arc::new(Notify::new());
    let addr = common::serve(upstream(
        live.clone(),
        Arrivals::default(),
        Arc::clone(&release),
    ))
    .await;
    let gateway = TestGateway::start(backend.with_server("tracker", addr)).await;

    let mut response = reqwest::Client::new()
        .post(gateway.url("tracker"))
        .bearer_auth("token-alice")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(call_body())
        .send()
        .await
        .unwrap();
    response.chunk().await.unwrap().unwrap();
    assert_eq!(live.now().len(), 1);
    drop(response);
    until_no_call_is_live(&live).await;
}

#[tokio::test]
async fn a_refused_or_unreachable_call_is_not_left_live() {
    let backend = FakeBackend::default();
    let live = backend.live();
    // Nothing listens there: the forward fails.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let gateway = TestGateway::start(backend.with_server("gone", closed)).await;
    let http = reqwest::Client::new();
    let unreachable = http
        .post(gateway.url("gone"))
        .bearer_auth("token-alice")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(call_body())
        .send()
        .await
        .unwrap();
    assert_eq!(unreachable.status(), 502);
    let malformed = http
        .post(gateway.url("gone"))
        .bearer_auth("token-alice")
        .header("content-type", "application/json")
        .body("[1, 2]")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert!(live.now().is_empty());
}
