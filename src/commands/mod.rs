//! One file per command: each does its command's I/O and calls the pure parts.

pub mod emulator;
