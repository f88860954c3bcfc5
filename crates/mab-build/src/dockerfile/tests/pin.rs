//! The pinned text of whole Dockerfiles, as a table; every case also re-parses the pinned text
//! to check it names the ids at the same lines.

use std::collections::BTreeMap;

use super::*;

/// A pin in a table: a base (reference and `--platform`) and the id it becomes.
type Pin = (&'static str, Option<&'static str>, &'static str);

/// (what it shows, Dockerfile, build args, pins, the pinned text).
const PINNED: &[(&str, &str, BuildArgs, &[Pin], &str)] = &[
    (
        "only the image word changes",
        "# syntax=docker/dockerfile:1\nARG TAG=3\n# the base\nFROM --platform=$BUILDPLATFORM alpine:${TAG} AS build\nRUN echo alpine\nFROM scratch\nFROM build AS again\nfrom  debian:12\tas final\nCOPY --from=build / /\n",
        &[("BUILDPLATFORM", "linux/amd64")],
        &[
            ("alpine:3", Some("linux/amd64"), "sha256:aaa"),
            ("debian:12", None, "sha256:ddd"),
        ],
        "# syntax=docker/dockerfile:1\nARG TAG=3\n# the base\nFROM --platform=$BUILDPLATFORM sha256:aaa AS build\nRUN echo alpine\nFROM scratch\nFROM build AS again\nfrom  sha256:ddd\tas final\nCOPY --from=build / /\n",
    ),
    (
        "unmapped bases are left alone",
        "FROM a\nFROM b\nFROM a\n",
        &[],
        &[("a", None, "sha256:1")],
        "FROM sha256:1\nFROM b\nFROM sha256:1\n",
    ),
    (
        "nothing to pin",
        "FROM a\nFROM b\n",
        &[],
        &[],
        "FROM a\nFROM b\n",
    ),
    (
        "platforms are told apart",
        "FROM --platform=linux/amd64 a\nFROM a\n",
        &[],
        &[
            ("a", Some("linux/amd64"), "sha256:amd"),
            ("a", None, "sha256:target"),
        ],
        "FROM --platform=linux/amd64 sha256:amd\nFROM sha256:target\n",
    ),
    (
        "continuation layout is kept",
        "FROM \\\n  # comment\n  alpine \\\n  AS base\nRUN true\n",
        &[],
        &[("alpine", None, "sha256:x")],
        "FROM \\\n  # comment\n  sha256:x \\\n  AS base\nRUN true\n",
    ),
    (
        "continuation with trailing spaces and CRLF",
        "FROM \\  \r\n alpine\r\nRUN echo\r\n",
        &[],
        &[("alpine", None, "sha256:x")],
        "FROM \\  \r\n sha256:x\r\nRUN echo\r\n",
    ),
    (
        "a word broken over lines keeps the line numbers",
        "FROM alp\\\n# c\nine AS x\nFROM x\nRUN true\n",
        &[],
        &[("alpine", None, "sha256:x")],
        "FROM \\\n\\\nsha256:x AS x\nFROM x\nRUN true\n",
    ),
    (
        "a broken word at the end of the instruction",
        "FROM \\\nalp\\\nine\nRUN true\n",
        &[],
        &[("alpine", None, "sha256:x")],
        "FROM \\\n\\\nsha256:x\nRUN true\n",
    ),
    (
        "the backtick escape",
        "# escape=`\nFROM a`\nlpine\nRUN dir\n",
        &[],
        &[("alpine", None, "sha256:x")],
        "# escape=`\nFROM `\nsha256:x\nRUN dir\n",
    ),
    (
        "stages and scratch stay",
        "ARG V=3\nFROM alpine:$V AS a\nFROM --platform=linux/arm64 debian AS b\nFROM a\nFROM scratch\n",
        &[],
        &[
            ("alpine:3", None, "sha256:0"),
            ("debian", Some("linux/arm64"), "sha256:1"),
        ],
        "ARG V=3\nFROM sha256:0 AS a\nFROM --platform=linux/arm64 sha256:1 AS b\nFROM a\nFROM scratch\n",
    ),
];

fn base(reference: &str, platform: Option<&str>) -> BaseImage {
    match platform {
        Some(platform) => image_on(reference, platform),
        None => image(reference),
    }
}

#[test]
fn pinned_text() {
    for &(what, text, build_args, pins, expected) in PINNED {
        let dockerfile = parse_with(text, build_args);
        let map: BTreeMap<BaseImage, String> = pins
            .iter()
            .map(|&(reference, platform, id)| (base(reference, platform), id.to_string()))
            .collect();
        let pinned = dockerfile.pinned(&map);
        assert_eq!(pinned, expected, "{what}");

        // The pinned text names the ids, at the same lines, with the same stages.
        let reparsed = parse_with(&pinned, build_args);
        let lines = |file: &Dockerfile| file.stages().iter().map(|s| s.line).collect::<Vec<_>>();
        assert_eq!(lines(&reparsed), lines(&dockerfile), "{what}");
        for (before, after) in dockerfile.stages().iter().zip(reparsed.stages()) {
            let expected_base = match &before.base {
                StageBase::Image(image) => match map.get(image) {
                    Some(id) => StageBase::Image(BaseImage {
                        reference: id.clone(),
                        platform: image.platform.clone(),
                    }),
                    None => before.base.clone(),
                },
                other => other.clone(),
            };
            assert_eq!(after.base, expected_base, "{what}");
        }
    }
}
