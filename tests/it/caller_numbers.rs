//! Caller numbers in one form (issue #17): a From written `004512345678` or `+4512345678` is
//! stored as 4512345678 in the callee's history, as numbers typed in the API are.
// Tests drive a real process: wall-clock time is the point here.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::support::{SipClient, TestServer};
use onestatus::store::Store;

#[test]
fn a_from_number_written_another_way_is_stored_normalised() {
    let server = TestServer::start_demo();
    for (i, from) in ["004512345678", "+4512345678"].into_iter().enumerate() {
        let client = SipClient::new(server.sip_udp);
        let local = client.local();
        let srv = server.sip_udp;
        // Hans has no phone registered: the call goes to his voicemail, and his history row
        // is written at the hand-off.
        client.send(
            format!(
                "INVITE sip:4570100001@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-from-{i}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{from}@{local}>;tag=f{i}\r\nTo: <sip:4570100001@{srv}>\r\n\
                 Call-ID: from-form-{i}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:{from}@{local}>\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        );
        let answers = client.collect(Duration::from_secs(2));
        assert!(
            answers.iter().any(|a| a.starts_with("SIP/2.0 ")),
            "no answer to the INVITE"
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let numbers = rt.block_on(async {
        let url = format!(
            "sqlite://{}",
            server.data_dir.join("onestatus.db").display()
        );
        let store = Store::connect(&url).await.unwrap();
        let hans = store.user_by_local_number("1000001").await.unwrap();
        let mut rows = Vec::new();
        for _ in 0..50 {
            rows = store.call_history(hans.id, None, 10).await.unwrap();
            if rows.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rows.into_iter()
            .map(|r| r.data.other_number)
            .collect::<Vec<_>>()
    });
    assert_eq!(numbers, ["4512345678", "4512345678"]);
}
