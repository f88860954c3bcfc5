//! Tests of the Dockerfile reader on whole Dockerfiles: `parse.rs` (stages, args, lines,
//! directives, heredocs, errors) and `pin.rs` (the rewritten text).

mod parse;
mod pin;

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

pub(super) fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

pub(super) fn parse(text: &str) -> Dockerfile {
    parse_with(text, &[])
}

pub(super) fn parse_with(text: &str, build_args: &[(&str, &str)]) -> Dockerfile {
    match Dockerfile::parse(Path::new("Dockerfile"), text, &args(build_args)) {
        Ok(dockerfile) => dockerfile,
        Err(error) => panic!("parse failed: {error}"),
    }
}

pub(super) fn parse_error(text: &str) -> (usize, String) {
    match Dockerfile::parse(Path::new("Dockerfile"), text, &BTreeMap::new()) {
        Ok(dockerfile) => panic!("expected an error, got {:?}", dockerfile.stages()),
        Err(BuildError::DockerfileSyntax { line, message, .. }) => (line, message),
        Err(other) => panic!("unexpected error {other}"),
    }
}

pub(super) fn image(reference: &str) -> BaseImage {
    BaseImage {
        reference: reference.to_string(),
        platform: None,
    }
}

pub(super) fn image_on(reference: &str, platform: &str) -> BaseImage {
    BaseImage {
        reference: reference.to_string(),
        platform: Some(platform.to_string()),
    }
}

/// Build args in a table: (name, value) pairs.
pub(super) type BuildArgs = &'static [(&'static str, &'static str)];
