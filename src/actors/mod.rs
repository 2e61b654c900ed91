//! The actors, one file each; the messages an actor handles are declared in its
//! file.

pub mod archive;
pub mod device;
pub mod persistence;
pub mod registry;
pub mod scanner;
pub mod session;
