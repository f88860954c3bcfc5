//! End-to-end tests: the real `mab` binary against a real Docker daemon, a real registry and
//! QEMU emulation, checked with independent clients (skopeo, the docker CLI).
//!
//! They need the environment that `cargo xtask test` brings up (see `mab_tests` for the
//! variables) and panic without it. Each test uses its own repository, so they run in parallel.

mod bad_input;
mod builders;
mod buildkit;
mod cache;
mod ci;
mod compression;
mod credentials;
mod docker_format;
mod dry_run;
mod engine_push;
mod example;
mod faults;
mod interrupt;
mod lint;
mod load;
mod malformed_registry;
mod manifest;
mod many_images;
mod oci_output;
mod plan;
mod rerun;
mod select;
mod shell;
mod soak;
mod supply_chain;
mod verify;
