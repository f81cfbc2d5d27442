//! The web client's figures (issue #16), measured in Debian's headless Chromium against the real
//! binary; not timed tests — numbers go to `benches/RESULTS.md`:
//!
//! 1. **Size**: every file the browser loads (all of `web/` but licences and notes), raw and
//!    gzip -9, summed. Target < 200 KB compressed.
//! 2. **First screen after login**: from the click on "Log in" to the colleague list rendered
//!    (the page's own clock, `performance.now()`, so WebDriver's polling does not count), over
//!    `RUNS` logins. Target < 300 ms on loopback.
//! 3. **2,000 colleagues**: USERS (default 2,000) users are added to the demo organisation; the
//!    receptionist board lists the whole organisation. Measured in the page: from the end of
//!    the `/api/v1/colleagues` response to every row in the DOM (render), and from a keystroke
//!    in the filter to the filtered rows in the DOM (filter). Target < 100 ms each.
//!
//! Run: `cargo bench --bench web_client` (add `--profile dev` to skip the release build; the
//! server is then unoptimised, which only makes figure 2 worse).
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::webdriver::{Browser, Driver, Window};
use support::TestServer;

const WAIT: Duration = Duration::from_secs(60);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (raw bytes, gzip -9 bytes) of what the browser downloads.
fn client_size() -> (usize, usize, usize) {
    let mut raw = 0;
    let mut gz = 0;
    let mut files = 0;
    for (name, bytes) in onestatus::api::web::assets() {
        if name.ends_with(".txt") || name.ends_with(".md") {
            continue;
        }
        let mut child = Command::new("gzip")
            .args(["-9", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("gzip");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write to gzip");
        let out = child.wait_with_output().expect("gzip output");
        raw += bytes.len();
        gz += out.stdout.len();
        files += 1;
    }
    (files, raw, gz)
}

/// Adds `n` users to organisation 100 in one transaction (as benches/routing_lookup does:
/// `user_create` pays an fsync per user).
fn add_users(server: &TestServer, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = server.data_dir.join("onestatus.db");
    rt.block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .foreign_keys(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("open the server's database");
        let org: i64 =
            sqlx::query_scalar("SELECT id FROM organisations WHERE customer_code = '100'")
                .fetch_one(&pool)
                .await
                .expect("demo organisation");
        let mut tx = pool.begin().await.expect("transaction");
        let first = [
            "Anna", "Bo", "Carl", "Dorte", "Erik", "Frida", "Gustav", "Hanne", "Ib", "Jens",
        ];
        let last = [
            "Andersen",
            "Berg",
            "Christensen",
            "Dahl",
            "Eriksen",
            "Friis",
            "Holm",
            "Jensen",
        ];
        for i in 0..n {
            let name = format!(
                "{} {} {i:04}",
                first[i % first.len()],
                last[(i / 10) % last.len()]
            );
            // 1001… onwards: the demo users hold local numbers 1000001-1000004.
            let one = format!("457019{:04}", i + 1000);
            let local = format!("100{}", &one[one.len() - 4..]);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (org_id, name, search_name, one_number, local_number, role, \
                 pin_hash, pin_must_change, lang, created_at) VALUES ($1, $2, $3, $4, $5, 'user', \
                 'bench', FALSE, 'da', 0) RETURNING id",
            )
            .bind(org)
            .bind(&name)
            .bind(name.to_lowercase())
            .bind(&one)
            .bind(&local)
            .fetch_one(&mut *tx)
            .await
            .expect("insert user");
            sqlx::query("INSERT INTO voicemail_settings (user_id) VALUES ($1)")
                .bind(id)
                .execute(&mut *tx)
                .await
                .expect("insert voicemail settings");
        }
        tx.commit().await.expect("commit");
        pool.close().await;
    });
}

/// One login through the form; the page's time from the click, and from the login answer, to
/// the first colleague row.
fn first_screen_ms(b: &Browser, base: &str) -> (f64, f64) {
    b.goto(&format!("{base}/"));
    b.find("#local-number");
    b.type_into("#local-number", "1000001");
    b.type_into("#pin", "2580");
    b.exec(
        "window.__t0 = performance.now(); window.__ready = null;
         new MutationObserver((_, o) => { if (document.querySelector('li[data-user]')) {
           window.__ready = performance.now(); o.disconnect(); } })
           .observe(document.body, { subtree: true, childList: true });
         document.querySelector('form button[type=submit]').click();",
        json!([]),
    );
    let ready = b.wait_for("the colleague list", "window.__ready", WAIT);
    let t0 = b.exec("return window.__t0", json!([]));
    let answered = b.exec(
        "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/v1/login')).pop().responseEnd",
        json!([]),
    );
    let ready = ready.as_f64().unwrap_or(f64::NAN);
    let ms = (
        ready - t0.as_f64().unwrap_or(f64::NAN),
        ready - answered.as_f64().unwrap_or(f64::NAN),
    );
    // Log out, so the next run starts from the login form again.
    b.click("header.top button");
    b.find("#local-number");
    ms
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let runs = env_usize("RUNS", 10);
    let users = env_usize("USERS", 2000);
    let (files, raw, gz) = client_size();
    println!("client: {files} files, {raw} bytes raw, {gz} bytes gzip -9 (target < 200 KB)");

    let server = TestServer::start_demo();
    let base = format!("http://{}", server.http);
    let driver = Driver::start();
    let b = driver.browser(Window::DESKTOP);
    let report = |what: &str, samples: Vec<(f64, f64)>| {
        let (mut click, mut answer): (Vec<f64>, Vec<f64>) = samples.into_iter().unzip();
        click.sort_by(f64::total_cmp);
        answer.sort_by(f64::total_cmp);
        println!(
            "first screen after login ({what}, {runs} runs): from the click p50 {:.0} ms max {:.0} ms; \
             from the login answer p50 {:.0} ms max {:.0} ms (target < 300 ms)",
            percentile(&click, 0.5),
            click[click.len() - 1],
            percentile(&answer, 0.5),
            answer[answer.len() - 1]
        );
    };
    // One untimed login first: the browser's module cache is cold only once per user.
    first_screen_ms(&b, &base);
    report(
        "demo organisation",
        (0..runs).map(|_| first_screen_ms(&b, &base)).collect(),
    );

    add_users(&server, users);
    report(
        &format!("{} users", users + 4),
        (0..runs).map(|_| first_screen_ms(&b, &base)).collect(),
    );
    // Where the last login's time went: the API requests after the login answer.
    let slowest = b.exec(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/'))
           .map(e => [e.name.replace(location.origin, ''), Math.round(e.duration)])
           .sort((a, b) => b[1] - a[1]).slice(0, 4)",
        json!([]),
    );
    println!("  slowest API requests of the last login: {slowest}");

    // The receptionist board with the whole organisation.
    b.goto(&format!("{base}/"));
    b.type_into("#local-number", "1000002");
    b.type_into("#pin", "2580");
    b.click("form button[type=submit]");
    b.wait_for("the tabs", "document.querySelector('nav.tabs')", WAIT);
    let total = users + 4;
    let rows = 200; // web/components/reception.js BOARD_ROWS: the board draws the first 200
    let mut renders = Vec::new();
    let mut filters = Vec::new();
    for _ in 0..runs {
        b.goto(&format!("{base}/colleagues"));
        b.wait_for(
            "the tabs",
            "document.querySelector('a[data-tab=reception]')",
            WAIT,
        );
        b.exec(
            &format!(
                "window.__rendered = null;
                 new MutationObserver((_, o) => {{
                   const board = document.querySelector('[data-testid=board]');
                   if (board && board.querySelectorAll('tr[data-user]').length === Math.min({total}, {rows})) {{
                     window.__rendered = performance.now(); o.disconnect(); }} }})
                   .observe(document.body, {{ subtree: true, childList: true }});
                 document.querySelector('a[data-tab=reception]').click();"
            ),
            json!([]),
        );
        let rendered = b.wait_for("the full board", "window.__rendered", WAIT);
        let response_end = b.exec(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/colleagues?scope=internal&limit=')).pop().responseEnd",
            json!([]),
        );
        renders.push(
            rendered.as_f64().unwrap_or(f64::NAN) - response_end.as_f64().unwrap_or(f64::NAN),
        );
        // Filter on a fragment matching one user in a thousand or so.
        let filtered = b.exec_async(
            "const done = arguments[arguments.length - 1];
             const input = document.querySelector('#rec-filter');
             const t0 = performance.now();
             input.value = '0042';
             input.dispatchEvent(new Event('input', { bubbles: true }));
             new MutationObserver((_, o) => { const n = document.querySelectorAll('[data-testid=board] tr[data-user]').length;
               if (n < 10) { o.disconnect(); done({ ms: performance.now() - t0, rows: n }); } })
               .observe(document.querySelector('[data-testid=board]'), { subtree: true, childList: true });",
            json!([]),
        );
        filters.push(filtered["ms"].as_f64().unwrap_or(f64::NAN));
    }
    renders.sort_by(f64::total_cmp);
    filters.sort_by(f64::total_cmp);
    println!(
        "board of {total} colleagues (first {rows} rows drawn): render p50 {:.0} ms max {:.0} ms; filter p50 {:.0} ms max {:.0} ms (target < 100 ms)",
        percentile(&renders, 0.5),
        renders[renders.len() - 1],
        percentile(&filters, 0.5),
        filters[filters.len() - 1]
    );
}
