//! The administration commands, through the real binary on a fresh SQLite data directory.

use crate::support;

use std::process::Output;

fn run(data: &std::path::Path, args: &[&str]) -> Output {
    support::command(data)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .output()
        .expect("run onestatus")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn org_and_user_administration() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let o = run(
        d,
        &[
            "org",
            "add",
            "--code",
            "321",
            "--name",
            "Acme ApS",
            "--allow-external-forwarding",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["org", "add", "--code", "321", "--name", "Again"]);
    assert!(!o.status.success(), "duplicate customer code refused");
    assert!(stderr(&o).contains("customer_code"), "{}", stderr(&o));

    let o = run(
        d,
        &[
            "user",
            "add",
            "--org",
            "321",
            "--name",
            "Hans Hansen",
            "--one-number",
            "4533334444",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("3214444\t4533334444\tHans Hansen"),
        "{}",
        stdout(&o)
    );
    // Numbers are stored in one form however they are typed; what is not a number is refused,
    // naming the flag.
    let o = run(
        d,
        &[
            "user",
            "add",
            "--org",
            "321",
            "--name",
            "Karen Berg",
            "--one-number",
            "+45 33 33 55 55",
            "--mobile",
            "0045 20 30 40 50",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("3215555\t4533335555\tKaren Berg"),
        "{}",
        stdout(&o)
    );
    let o = run(
        d,
        &[
            "user",
            "add",
            "--org",
            "321",
            "--name",
            "Nobody",
            "--one-number",
            "4533336666",
            "--mobile",
            "mobil",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--mobile"), "{}", stderr(&o));

    // PIN rules: not 0000, not the local number, digits only.
    for bad in ["0000", "3214444", "12a4"] {
        let o = run(d, &["user", "set-pin", "3214444", bad]);
        assert!(!o.status.success(), "PIN {bad} must be refused");
    }
    let o = run(d, &["user", "set-pin", "3214444", "4711"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = run(
        d,
        &[
            "user",
            "add-device",
            "3214444",
            "--username",
            "hans-desk",
            "--password",
            "s3cret",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["user", "list", "--org", "321"]);
    assert!(
        stdout(&o).contains("3214444\t4533334444\tuser\tHans Hansen"),
        "{}",
        stdout(&o)
    );

    let o = run(d, &["org", "populate", "--code", "777", "--users", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            "4577700000;7770000;bench7770000",
            "4577700001;7770001;bench7770001",
            "4577700002;7770002;bench7770002"
        ]
    );
}

#[test]
fn unknown_user_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let o = run(data.path(), &["user", "set-pin", "9999999", "4711"]);
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("onestatus: "), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn calendar_import_from_a_file() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let o = run(d, &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The demo users come with `serve --demo`; seed them the same way through a short serve.
    let mut server = support::TestServer::start_in(d, &["serve", "--demo"], &[]);
    assert!(server.terminate().success());
    let ics = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/ics/outlook-hans-v1.ics"
    );
    let o = run(d, &["calendar", "import", "--user", "1000001", ics]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("events"), "{}", stdout(&o));
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/ics/malformed-truncated.ics"
    );
    let o = run(d, &["calendar", "import", "--user", "1000001", bad]);
    assert!(!o.status.success(), "a malformed feed is refused");
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.starts_with("onestatus: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("malformed calendar feed"), "{line}");
}

/// Issue #19: the toll-fraud policy holds for numbers given on the command line too — the
/// organisation's switch for `--mobile`, the deny-list for `--mobile` and
/// `--receptionist-group`.
#[test]
fn toll_fraud_policy_on_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let o = run(
        d,
        &[
            "org",
            "add",
            "--code",
            "322",
            "--name",
            "Sea ApS",
            "--allow-external-forwarding",
            "--receptionist-group",
            "+882 13000000",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--receptionist-group"),
        "{}",
        stderr(&o)
    );
    let o = run(
        d,
        &[
            "org",
            "add",
            "--code",
            "322",
            "--name",
            "Sea ApS",
            "--allow-external-forwarding",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["org", "add", "--code", "323", "--name", "Closed ApS"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let add = |org: &str, one: &str, mobile: &str| {
        run(
            d,
            &[
                "user",
                "add",
                "--org",
                org,
                "--name",
                "Ole",
                "--one-number",
                one,
                "--mobile",
                mobile,
            ],
        )
    };
    let o = add("322", "4533331111", "0088213000000");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--mobile"), "{}", stderr(&o));
    assert!(stderr(&o).contains("+882"), "{}", stderr(&o));
    let o = add("323", "4533332222", "20 30 40 50");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--mobile"), "{}", stderr(&o));
    let o = add("322", "4533333333", "20 30 40 50");
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `onestatus group …` (issue #17): create with members in order, list, change how it rings,
/// reorder, remove; numbers in one form however typed; refusals name the flag.
#[test]
fn group_administration() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let o = run(d, &["org", "add", "--code", "322", "--name", "Bee ApS"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, number) in [("Ann", "4533221111"), ("Bo", "4533222222")] {
        let o = run(
            d,
            &[
                "user",
                "add",
                "--org",
                "322",
                "--name",
                name,
                "--one-number",
                number,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = run(
        d,
        &[
            "group",
            "add",
            "--org",
            "322",
            "--name",
            "Support",
            "--number",
            "+45 33 22 00 00",
            "--member",
            "3222222",
            "--member",
            "3221111",
            "--strategy",
            "in-order",
            "--ring-secs",
            "12",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "4533220000\tSupport\thunt\tin_order\t12s\tvoicemail\t3222222,3221111\n"
    );
    // The organisation does not allow external calls: an outside fallback is refused.
    let o = run(
        d,
        &[
            "group",
            "set",
            "4533220000",
            "--fallback-number",
            "4588776655",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--fallback-number"), "{}", stderr(&o));
    // A colleague is fine, however written.
    let o = run(
        d,
        &[
            "group",
            "set",
            "33 22 00 00",
            "--fallback-number",
            "0045 33 22 11 11",
            "--strategy",
            "all",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["group", "members", "4533220000", "3221111"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["group", "list", "--org", "322"]);
    assert_eq!(
        stdout(&o),
        "4533220000\tSupport\thunt\tall\t12s\tnumber:4533221111\t3221111\n"
    );
    let o = run(d, &["group", "set", "4533220000", "--ring-secs", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--ring-secs"), "{}", stderr(&o));
    let o = run(d, &["group", "remove", "4533220000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(d, &["group", "list", "--org", "322"]);
    assert_eq!(stdout(&o), "");
}
