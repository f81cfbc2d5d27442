//! Fuzzing in CI without libFuzzer (issue #19): the bodies of both cargo-fuzz targets
//! (`onestatus::sip::fuzz`, also called by `fuzz/fuzz_targets/*.rs`) run over every file of the
//! corpus in `testdata/sip/` and over a bounded number of seeded mutations of it. Seeded, so a
//! failure names an input that reproduces; bounded by counts, not time.

use std::path::{Path, PathBuf};

use onestatus::sip::fuzz::{mutate, parse_message, transaction_input, SEQUENCE_SEPARATOR};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutated single messages for `parse_message` (on top of the 20,000 of
/// `tests/sip_corpus.rs`, which check the corpus' own expectations).
const MESSAGES: usize = 5_000;
/// Mutated sequences for `transaction_input`; each is 1 to 6 messages.
const SEQUENCES: usize = 2_000;

/// Every `.sip` file of `testdata/sip/valid` and `testdata/sip/invalid`, sorted.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sip");
    let mut files: Vec<PathBuf> = ["valid", "invalid"]
        .iter()
        .flat_map(|kind| std::fs::read_dir(root.join(kind)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sip"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap()))
        .collect()
}

/// Runs `target` on `input`; on a panic, says which input it was (as hex, to replay with
/// `cargo fuzz run <target> <file>`).
fn run(target: &str, f: fn(&[u8]), input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        panic!("{target} failed on {what}: {}", hex(input));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn parse_message_over_the_corpus_and_its_mutations() {
    let seeds = corpus();
    assert!(seeds.len() > 70, "corpus shrank: {}", seeds.len());
    for (name, bytes) in &seeds {
        run("parse_message", parse_message, bytes, name);
    }
    let mut rng = StdRng::seed_from_u64(0x5EC_0019);
    for i in 0..MESSAGES {
        let (name, original) = &seeds[rng.gen_range(0..seeds.len())];
        let mut bytes = original.clone();
        for _ in 0..rng.gen_range(1..=4) {
            mutate(&mut rng, &mut bytes);
        }
        run(
            "parse_message",
            parse_message,
            &bytes,
            &format!("mutation {i} of {name}"),
        );
    }
}

/// A sequence as the target reads it: messages joined by the separator, each led by a clock
/// step (0 to 40 × 100 ms, enough to reach Timer A/E retransmissions and Timer J/K/L).
fn sequence(rng: &mut StdRng, seeds: &[(String, Vec<u8>)], mutations: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for n in 0..rng.gen_range(1..=6) {
        if n > 0 {
            data.push(SEQUENCE_SEPARATOR);
        }
        data.push(rng.gen_range(0..=40));
        let mut bytes = seeds[rng.gen_range(0..seeds.len())].1.clone();
        for _ in 0..mutations {
            mutate(rng, &mut bytes);
        }
        // The separator inside a message would split it; the target reads it that way too,
        // but keep most messages whole so they reach the layer.
        bytes.retain(|b| *b != SEQUENCE_SEPARATOR);
        data.extend_from_slice(&bytes);
    }
    data
}

#[test]
fn transaction_input_over_the_corpus_and_its_mutations() {
    let seeds = corpus();
    // Each corpus file alone.
    for (name, bytes) in &seeds {
        let mut data = vec![0];
        data.extend(bytes.iter().filter(|b| **b != SEQUENCE_SEPARATOR));
        run("transaction_input", transaction_input, &data, name);
    }
    let mut rng = StdRng::seed_from_u64(0x5EC_0020);
    for i in 0..SEQUENCES {
        // A third unmutated (well-formed sequences drive the layer deep), the rest mutated.
        let mutations = [0, 1, 3][i % 3];
        let data = sequence(&mut rng, &seeds, mutations);
        run(
            "transaction_input",
            transaction_input,
            &data,
            &format!("sequence {i}"),
        );
    }
}
