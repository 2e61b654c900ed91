//! Integration tests: the real binary on port 0, a fresh database, real
//! clients.

mod auth;
mod backpressure;
mod bluetooth;
mod bluez;
mod crash;
mod fuzz_corpus;
mod helpers;
mod hostile;
mod lifecycle;
mod raw;
mod rest;
mod resume;
mod settings;
mod storage;
mod stream;
