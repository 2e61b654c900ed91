//! Fuzz target `current`: the checks live in exercise.rs, shared with the
//! corpus replay test (tests/api/fuzz_corpus.rs).
#![no_main]

#[path = "../exercise.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|data: &[u8]| exercise::current(data));
