//! Issue #19 finding 3: the calendar poller must not be a way into our own network. Real HTTP
//! servers on loopback (127.0.0.1 and 127.0.0.2) count the connections they get; the poller
//! must refuse them by default, reach one only when it is allow-listed, refuse a redirect from
//! an allowed server to a refused one, and store failures without socket detail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use onestatus::calendar::fetch_policy::BlockedRange;
use onestatus::calendar::http::UrlSource;
use onestatus::calendar::{sync::sync_round, CalendarSource, FetchError, FetchPolicy, Fetched};
use onestatus::clock::ManualClock;
use onestatus::store::{demo, CalendarSourceKind, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n\
UID:m1@x\r\nDTSTAMP:20260316T060000Z\r\nDTSTART:20260317T090000Z\r\nDTEND:20260317T100000Z\r\n\
SUMMARY:Budget\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 16, 7, 0, 0).unwrap()
}

/// A server on `ip` answering every connection with `answer`; returns its base URL and the
/// number of connections it accepted.
async fn server(ip: &str, answer: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        // Bounded: no test makes more than a handful of requests.
        for _ in 0..16 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = sock.write_all(answer.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}"), count)
}

fn ok_feed() -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{FEED}",
        FEED.len()
    )
}

fn policy(allow_http: bool, networks: &[&str]) -> FetchPolicy {
    FetchPolicy {
        allow_http,
        allowed_networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
    }
}

async fn fetch(url: &str, policy: FetchPolicy) -> Result<Fetched, FetchError> {
    UrlSource::new(url, None, policy)?
        .fetch(&Default::default())
        .await
}

#[tokio::test]
async fn loopback_is_refused_by_default_and_reached_only_when_allow_listed() {
    let (base, count) = server("127.0.0.1", ok_feed()).await;
    let url = format!("{base}/cal.ics");

    // https only by default.
    assert_eq!(
        fetch(&url, FetchPolicy::default()).await,
        Err(FetchError::HttpNotAllowed)
    );
    // http allowed, but loopback is not.
    assert_eq!(
        fetch(&url, policy(true, &[])).await,
        Err(FetchError::AddressNotAllowed(BlockedRange::Loopback))
    );
    // An allow-list naming another network does not open this one.
    assert_eq!(
        fetch(&url, policy(true, &["10.0.0.0/8", "127.0.0.2"])).await,
        Err(FetchError::AddressNotAllowed(BlockedRange::Loopback))
    );
    assert_eq!(count.load(Ordering::SeqCst), 0, "no connection was made");

    // Allow-listed: fetched.
    let got = fetch(&url, policy(true, &["127.0.0.1"])).await.unwrap();
    assert!(
        matches!(got, Fetched::Body { ref text, .. } if text == FEED),
        "{got:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn each_redirect_target_is_checked_again() {
    let (inside, inside_count) = server("127.0.0.2", ok_feed()).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nLocation: {inside}/secret\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    let (outside, outside_count) = server("127.0.0.1", redirect).await;
    let url = format!("{outside}/cal.ics");
    assert_eq!(
        fetch(&url, policy(true, &["127.0.0.1"])).await,
        Err(FetchError::AddressNotAllowed(BlockedRange::Loopback))
    );
    assert_eq!(outside_count.load(Ordering::SeqCst), 1);
    assert_eq!(
        inside_count.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );

    // With the target allow-listed too, the redirect is followed.
    let got = fetch(&url, policy(true, &["127.0.0.1", "127.0.0.2"]))
        .await
        .unwrap();
    assert!(matches!(got, Fetched::Body { .. }), "{got:?}");
    assert_eq!(inside_count.load(Ordering::SeqCst), 1);

    // A redirect loop ends after a bounded number of hops.
    let self_redirect = "HTTP/1.1 301 Moved\r\nLocation: /again\r\nContent-Length: 0\r\n\
                         Connection: close\r\n\r\n"
        .to_owned();
    let (base, count) = server("127.0.0.1", self_redirect).await;
    assert_eq!(
        fetch(&format!("{base}/a"), policy(true, &["127.0.0.1"])).await,
        Err(FetchError::Redirect)
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        onestatus::calendar::http::MAX_REDIRECTS + 1
    );
}

/// A closed port and a server that hangs up are stored as the same words: the stored error
/// must not tell an open port from a closed one.
#[tokio::test]
async fn stored_errors_carry_no_socket_detail() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cal.db").display());
    let store = Store::connect(&url).await.unwrap();
    demo::seed_at(&store, now() - chrono::Duration::days(30))
        .await
        .unwrap();
    let hans = store.user_by_local_number("1000001").await.unwrap();

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (hangs_up, _) = server("127.0.0.1", String::new()).await;
    let (refused_by_policy, count) = server("127.0.0.1", ok_feed()).await;
    for feed_url in [
        format!("http://{closed}/a.ics"),
        format!("{hangs_up}/b.ics"),
        format!("{refused_by_policy}/c.ics"),
    ] {
        store
            .calendar_source_create(hans.id, CalendarSourceKind::Url, &feed_url, None, now())
            .await
            .unwrap();
    }
    let clock = ManualClock::new(now());
    let mut bodies = Default::default();
    sync_round(&store, &clock, &policy(true, &["127.0.0.1"]), &mut bodies).await;
    let errors: Vec<Option<String>> = store
        .calendar_sources(Some(hans.id))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.last_error)
        .collect();
    let unreachable = FetchError::Unreachable.to_string();
    assert_eq!(errors[0].as_deref(), Some(unreachable.as_str()));
    assert_eq!(errors[1].as_deref(), Some(unreachable.as_str()));
    assert_eq!(errors[2], None, "the allow-listed feed was imported");
    for e in errors.iter().flatten() {
        let lower = e.to_ascii_lowercase();
        for detail in ["refused", "reset", "os error", "timed out", "127.0.0.1"] {
            assert!(!lower.contains(detail), "{e}");
        }
    }

    // Under the default policy the same sources are refused before any connection.
    let before = count.load(Ordering::SeqCst);
    sync_round(&store, &clock, &FetchPolicy::default(), &mut bodies).await;
    let sources = store.calendar_sources(Some(hans.id)).await.unwrap();
    for s in &sources {
        assert_eq!(
            s.last_error.as_deref(),
            Some(FetchError::HttpNotAllowed.to_string().as_str())
        );
    }
    assert_eq!(count.load(Ordering::SeqCst), before);
}
