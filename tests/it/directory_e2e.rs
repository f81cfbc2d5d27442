//! Issue #23 "Done when", end to end through the real binary: a SIPp caller whose number is
//! in the shared phonebook leaves a message, and the e-mail (the real SMTP receiver) names
//! the contact in its subject — not the display name the caller presented — and Hans's call
//! history names the call; and in a real Chromium, the web client's `tel:` handler route
//! starts a click-to-call (the desk phone rings, then the colleague), the handler is offered
//! for tel:/sip:, and the shared contacts appear in search with their source mark.
// Tests drive real processes over real sockets: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use serde_json::json;

use crate::support::smtp::{Relay, SmtpReceiver};
use crate::support::voicemail::*;
use crate::support::webdriver::{Driver, Window};
use crate::support::{self, TestServer};
use onestatus::store::{ContactNumber, NumberKind, SharedContactData};

const WAIT: Duration = Duration::from_secs(15);

/// The shared contact the SIPp caller (From 4512345678, "SIPp Caller") is.
fn add_jens(server: &TestServer) {
    with_store(server, async |store| {
        let org = store.org_by_code("100").await.unwrap().id;
        store
            .shared_contact_create(
                &SharedContactData {
                    org_id: org,
                    name: "Jens Jensen".into(),
                    company: Some("VVS ApS".into()),
                    email: None,
                    note: None,
                    numbers: vec![ContactNumber {
                        kind: NumberKind::Work,
                        number: "4512345678".into(),
                    }],
                },
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    });
}

#[test]
fn a_voicemail_from_a_shared_contact_is_mailed_with_the_contacts_name() {
    let (one_number, local, email, lang, secondary) = HANS;
    let mails = SmtpReceiver::start(Relay::Accept);
    let rtp = rtp_range();
    let server = start(Some(mails.port), rtp);
    let phone = Phone::new();
    let account = prepare_user(&server, local, email, secondary, phone.addr());
    add_jens(&server);
    let prompts = Prompts::load();
    let greeting_ms: usize = greeting(account.id.0, secondary)
        .iter()
        .map(|u| prompts.said(u, lang, one_number).len() / 8)
        .sum();
    let listen = (greeting_ms + 1200).to_string();
    sipp(
        "vm_deposit.xml",
        server.sip_udp,
        &["-s", one_number, "-d", &listen],
    )
    .unwrap();
    server
        .wait_log("voicemail message stored", Duration::from_secs(10))
        .expect("message stored");
    let mail = mails
        .next_blocking(Duration::from_secs(20))
        .expect("the new-message mail");
    let subject = mail
        .data
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .expect("a Subject header");
    assert_eq!(subject, "Ny talebesked fra Jens Jensen (4512345678)");
    assert!(
        !mail.data.contains("SIPp Caller"),
        "the presented name is not used"
    );

    // The call history names the call too (the SIPp call went to voicemail).
    let token = {
        let body = json!({"local_number": local, "pin": onestatus::store::demo::PIN}).to_string();
        let (status, answer) = http_json(&server, "POST", "/api/v1/login", None, Some(&body));
        assert_eq!(status, 200, "{answer}");
        answer["token"].as_str().unwrap().to_owned()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let call = loop {
        let (_, calls) = http_json(&server, "GET", "/api/v1/me/calls", Some(&token), None);
        if let Some(c) = calls
            .as_array()
            .and_then(|a| a.iter().find(|c| c["other_number"] == "4512345678"))
        {
            break c.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no history record: {calls}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(call["name"], "Jens Jensen", "{call}");
    assert_eq!(call["name_source"], "shared", "{call}");
}

/// A minimal HTTP/1.1 JSON exchange with the server.
fn http_json(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head[9..12].parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn bind(server: &TestServer, local_number: &str, port: u16) {
    with_store(server, async |store| {
        support::bind_device(store, local_number, port).await
    });
}

#[test]
fn the_tel_handler_route_starts_a_click_to_call_and_shared_contacts_are_searched() {
    let server = TestServer::start_demo();
    add_jens(&server);
    let (desk_port, karen_port) = (support::free_udp_port(), support::free_udp_port());
    bind(&server, "1000001", desk_port);
    bind(&server, "1000002", karen_port);
    let driver = Driver::start();
    let b = driver.browser(Window::DESKTOP);
    let base = format!("http://{}", server.http);

    // Log in, then search the shared phonebook from the colleagues page.
    b.goto(&format!("{base}/"));
    b.type_into("#local-number", "1000001");
    b.type_into("#pin", "2580");
    b.click("form button[type=submit]");
    b.wait_for("the tabs", "document.querySelector('nav.tabs')", WAIT);
    b.type_into("#search", "vvs");
    let found = b.wait_for(
        "Jens in the shared results",
        "(() => { const li = document.querySelector('[data-testid=shared-results] li[data-shared]');
                  return li && li.textContent; })()",
        WAIT,
    );
    let found = found.as_str().unwrap_or_default().to_owned();
    assert!(
        found.contains("Jens Jensen") && found.contains("4512345678"),
        "{found}"
    );
    assert_eq!(
        b.exec(
            "return document.querySelector('[data-testid=shared-results] .source').dataset.source",
            json!([])
        ),
        json!("shared")
    );

    // Settings offer the handler for tel:, sip: and web+sip:, pointing at /dial?uri=%s.
    b.goto(&format!("{base}/settings"));
    b.wait_for(
        "the handler button",
        "document.querySelector('[data-action=register-tel]')",
        WAIT,
    );
    b.exec(
        "window.__registered = [];
         navigator.registerProtocolHandler = (scheme, url) => window.__registered.push([scheme, url]);
         document.querySelector('[data-action=register-tel]').click();",
        json!([]),
    );
    let registered = b.exec("return window.__registered", json!([]));
    let template = format!("{base}/dial?uri=%s");
    assert_eq!(
        registered,
        json!([["tel", template], ["sip", template], ["web+sip", template]])
    );

    // What the browser opens for a tel: link on some page: the route asks, then calls.
    let desk = support::sipp_uas(&server, "c2c_desk_bye.xml", desk_port);
    let karen = support::sipp_uas(&server, "c2c_target.xml", karen_port);
    let link = template.replace("%s", "tel%3A%2B45-70-10-00-02");
    b.goto(&link);
    // It says whom: the number's name from the one lookup (a colleague here), with its mark.
    let asked = b.wait_for(
        "the confirmation with the name",
        "document.querySelector('[data-action=dial]') && document.querySelector('[data-testid=dial] .source')
         && document.querySelector('[data-testid=dial]').textContent",
        WAIT,
    );
    assert!(
        asked
            .as_str()
            .unwrap_or_default()
            .contains("Karen Berg (4570100002)"),
        "{asked}"
    );
    b.click("[data-action=dial]");
    b.wait_for(
        "the call started",
        "document.querySelector('[data-testid=dial-started]')",
        WAIT,
    );
    desk.join()
        .expect("desk thread")
        .expect("Hans's desk phone rang, answered and hung up");
    karen
        .join()
        .expect("target thread")
        .expect("Karen's phone rang and was connected");
}

/// Runs axe-core (vendored) on the page; fails on a serious or critical violation.
fn assert_accessible(b: &crate::support::webdriver::Browser, screen: &str) {
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/axe/axe.min.js"
    ))
    .expect("testdata/axe/axe.min.js");
    b.exec(&format!("{axe}\n;return typeof axe;"), json!([]));
    let violations = b.exec_async(
        "const done = arguments[arguments.length - 1];
         axe.run(document, { resultTypes: ['violations'] }).then(
           r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))),
           e => done([{ id: 'axe-error', help: String(e), nodes: [] }]));",
        json!([]),
    );
    assert_eq!(violations, json!([]), "{screen}: accessibility violations");
}

#[test]
fn a_receptionist_imports_a_vcard_file_and_reads_the_report() {
    let server = TestServer::start_demo();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kunder.vcf");
    std::fs::write(
        &file,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jens Jensen\r\nORG:VVS ApS\r\nTEL;TYPE=WORK:+45 22 33 44 55\r\nEND:VCARD\r\n\
         BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Uden Nummer\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let driver = Driver::start();
    let b = driver.browser(Window::DESKTOP);
    let base = format!("http://{}", server.http);
    b.goto(&format!("{base}/"));
    b.type_into("#local-number", "1000002");
    b.type_into("#pin", "2580");
    b.click("form button[type=submit]");
    b.wait_for("the tabs", "document.querySelector('nav.tabs')", WAIT);
    b.click("a[data-tab=phonebook]");
    b.click("a[href='/phonebook/import']");
    b.type_into("#imp-file", file.to_str().unwrap());
    b.click("form button[type=submit]");
    let report = b.wait_for(
        "the import report",
        "(() => { const r = document.querySelector('[data-testid=import-report]'); return r && r.innerText; })()",
        WAIT,
    );
    let report = report.as_str().unwrap_or_default().to_owned();
    // Danish: "2 poster: 1 tilføjet, …, 1 afvist." and the rejected record's line and reason.
    assert!(report.contains("2 poster: 1 tilføjet"), "{report}");
    assert!(
        report.contains("7")
            && report.contains("Uden Nummer")
            && report.contains("Intet telefonnummer"),
        "{report}"
    );
    assert_accessible(&b, "import report");
    // The contact is in the shared phonebook, marked.
    b.goto(&format!("{base}/phonebook"));
    let listed = b.wait_for(
        "the shared contact",
        "(() => { const li = document.querySelector('[data-testid=shared-contacts] li[data-shared]'); return li && li.innerText; })()",
        WAIT,
    );
    assert!(
        listed.as_str().unwrap_or_default().contains("Jens Jensen"),
        "{listed}"
    );
    assert_accessible(&b, "phonebook with the shared phonebook");
}
