//! Replays the committed fuzz corpus (`tests/fuzz/corpus/<target>/`), the
//! named reproducers of fixed bugs (`tests/fuzz/regressions/<target>/`) and
//! every frame of `shared/protocol/vectors.json` through the checks the fuzz
//! targets run (`tests/fuzz/exercise.rs`): on stable, in plain `cargo test`,
//! without a fuzzer. A failure names the target, the input file and its bytes
//! in hex.

#[path = "../fuzz/exercise.rs"]
mod exercise;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// What a fuzz target does with one input.
type Exercise = fn(&[u8]);

/// Each fuzz target and the function its inputs go through.
const TARGETS: [(&str, Exercise); 4] = [
    ("advertisement", exercise::advertisement),
    ("current", exercise::current),
    ("history", exercise::history),
    ("query", exercise::query),
];

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/protocol/vectors.json"
);

/// `tests/fuzz/<kind>/<target>`, `kind` being `corpus` or `regressions`.
fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(kind)
        .join(target)
}

/// Every file in `dir`, by name; none if it does not exist.
fn inputs_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut inputs: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    inputs.sort();
    inputs
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs every input, catching panics; one line per input that panicked.
fn replay(target: &str, run: Exercise, inputs: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, input) in inputs {
        let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| run(input))) else {
            continue;
        };
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        failures.push(format!("{target} {name} ({}): {message}", hex(input)));
    }
    failures
}

fn check(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} input(s) panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_committed_corpus_input_passes_the_fuzz_checks() {
    let mut failures = Vec::new();
    for (target, run) in TARGETS {
        let dir = fuzz_dir("corpus", target);
        let inputs = inputs_in(&dir);
        assert!(!inputs.is_empty(), "empty corpus {}", dir.display());
        failures.extend(replay(target, run, &inputs));
        let regressions = inputs_in(&fuzz_dir("regressions", target));
        failures.extend(replay(target, run, &regressions));
    }
    check(failures);
}

#[test]
fn every_vector_frame_passes_the_fuzz_checks() {
    let text = std::fs::read_to_string(VECTORS).expect("read vectors.json");
    let vectors: Vec<Value> = serde_json::from_str(&text).expect("parse vectors.json");
    let mut inputs: [Vec<(String, Vec<u8>)>; 3] = Default::default();
    for v in &vectors {
        let source = v["source"].as_str().unwrap_or("?");
        let frame = |text: &Value| bytes(text.as_str().expect("hex string"));
        let data = frame(&v["hex"]);
        match v["kind"].as_str() {
            Some("advertisement") => {
                let name = v["local_name"].as_str();
                for name in [None, name] {
                    let input = exercise::advertisement_input(name, &data);
                    inputs[0].push((format!("{source} name={name:?}"), input));
                }
            }
            Some("current_reading") => inputs[1].push((source.to_owned(), data)),
            Some("history_record") => {
                let packets = v.get("packets_hex").and_then(Value::as_array);
                let packets = packets.map_or_else(|| vec![data], |p| p.iter().map(frame).collect());
                for (k, packet) in packets.into_iter().enumerate() {
                    inputs[2].push((format!("{source} packet {k}"), packet));
                }
            }
            other => panic!("{source}: unknown vector kind {other:?}"),
        }
    }
    let mut failures = Vec::new();
    for ((target, run), inputs) in TARGETS.into_iter().zip(&inputs) {
        assert!(!inputs.is_empty(), "no {target} vectors in {VECTORS}");
        failures.extend(replay(target, run, inputs));
    }
    check(failures);
}

/// Bytes of a hex string such as `"0a1b"`.
fn bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}
