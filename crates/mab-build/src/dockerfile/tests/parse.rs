//! Stages, bases, args, lines, directives and heredocs of whole Dockerfiles, as tables.

use super::*;

/// A base image in a table: its reference and `--platform`, if any.
type Base = (&'static str, Option<&'static str>);

/// (what it shows, Dockerfile, build args, the distinct external bases in order of first use).
const BASES: &[(&str, &str, BuildArgs, &[Base])] = &[
    (
        "one FROM",
        "FROM alpine:3.19\nRUN echo hi\n",
        &[],
        &[("alpine:3.19", None)],
    ),
    (
        "registry with a port, digest",
        "FROM 127.0.0.1:5000/a/b:1\nFROM ghcr.io/o/i@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        &[],
        &[
            ("127.0.0.1:5000/a/b:1", None),
            (
                "ghcr.io/o/i@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                None,
            ),
        ],
    ),
    (
        "global ARG defaults",
        "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:$TAG\n",
        &[],
        &[("alpine:3.19", None)],
    ),
    (
        "a build arg overrides a default",
        "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:$TAG\n",
        &[("TAG", "3.20")],
        &[("alpine:3.20", None)],
    ),
    (
        "build args override defaults",
        "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:$TAG\n",
        &[("BASE", "debian"), ("TAG", "12")],
        &[("debian:12", None)],
    ),
    (
        "ARG without default",
        "ARG TAG\nFROM alpine:${TAG:-latest}\n",
        &[],
        &[("alpine:latest", None)],
    ),
    (
        "ARG without default, given",
        "ARG TAG\nFROM alpine:${TAG:-latest}\n",
        &[("TAG", "3")],
        &[("alpine:3", None)],
    ),
    (
        "build args no global ARG declares are not visible in FROM",
        "FROM alpine:${TAG:-default}\n",
        &[("TAG", "3")],
        &[("alpine:default", None)],
    ),
    (
        "several args in one ARG, quotes",
        "ARG A=one B=\"two words\" C\nFROM img:$A\nFROM img:${C:-none}\n",
        &[],
        &[("img:one", None), ("img:none", None)],
    ),
    (
        "quotes are removed and the default of B sees A",
        "ARG A='x y'\nARG B=\"${A}\"z\nFROM \"img:${B}\"\n",
        &[],
        &[("img:x yz", None)],
    ),
    (
        "a default refers to an earlier ARG",
        "ARG REGISTRY=docker.io\nARG IMAGE=$REGISTRY/library/alpine\nFROM $IMAGE\n",
        &[],
        &[("docker.io/library/alpine", None)],
    ),
    (
        "a default refers to an earlier ARG given as a build arg",
        "ARG REGISTRY=docker.io\nARG IMAGE=$REGISTRY/library/alpine\nFROM $IMAGE\n",
        &[("REGISTRY", "127.0.0.1:5000")],
        &[("127.0.0.1:5000/library/alpine", None)],
    ),
    (
        "${A:+alt}, unset",
        "ARG SUFFIX\nFROM alpine${SUFFIX:+-$SUFFIX}\n",
        &[],
        &[("alpine", None)],
    ),
    (
        "${A:+alt}, set",
        "ARG SUFFIX\nFROM alpine${SUFFIX:+-$SUFFIX}\n",
        &[("SUFFIX", "edge")],
        &[("alpine-edge", None)],
    ),
    (
        "modifiers without colon tell empty from unset",
        "ARG EMPTY=\nFROM img:a${EMPTY-x}b${UNSET-y}${EMPTY+z}${UNSET+w}\n",
        &[],
        &[("img:abyz", None)],
    ),
    (
        "ARGs after the first FROM do not apply to later FROM lines",
        "ARG V=1\nFROM img:$V\nARG V=2\nFROM img:$V\n",
        &[],
        &[("img:1", None)],
    ),
    (
        "--platform with the automatic BUILDPLATFORM",
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM --platform=linux/arm64 alpine\nFROM alpine\n",
        &[("BUILDPLATFORM", "linux/amd64")],
        &[
            ("golang:1.22", Some("linux/amd64")),
            ("alpine", Some("linux/arm64")),
            ("alpine", None),
        ],
    ),
    (
        "--platform that expands to nothing is absent",
        "FROM --platform=$TARGETPLATFORM alpine\n",
        &[],
        &[("alpine", None)],
    ),
    (
        "--platform with unset automatic args",
        "FROM --platform=\"${TARGETOS}/${TARGETARCH}\" alpine\n",
        &[],
        &[("alpine", Some("/"))],
    ),
    (
        "--platform from a global ARG",
        "ARG P=linux/arm/v7\nFROM --platform=${P} alpine\n",
        &[],
        &[("alpine", Some("linux/arm/v7"))],
    ),
    (
        "scratch is not external",
        "FROM scratch\nCOPY a /a\n",
        &[],
        &[],
    ),
    (
        "stages are not external",
        "FROM golang AS Build\nRUN go build\nFROM BUILD AS test\nFROM 0\nFROM alpine\nCOPY --from=build /x /x\n",
        &[],
        &[("golang", None), ("alpine", None)],
    ),
    (
        "later stage names are not visible earlier",
        "FROM base\nFROM alpine AS base\n",
        &[],
        &[("base", None), ("alpine", None)],
    ),
    (
        "distinct bases in order of first use",
        "FROM b\nFROM a\nFROM b\nFROM --platform=linux/arm64 b\nFROM a\n",
        &[],
        &[("b", None), ("a", None), ("b", Some("linux/arm64"))],
    ),
    (
        "FROM inside a continued RUN is part of the RUN",
        "FROM alpine\nRUN echo \\\n  FROM debian\nFROM busybox\n",
        &[],
        &[("alpine", None), ("busybox", None)],
    ),
    (
        "escape directive after a syntax directive",
        "# syntax=docker/dockerfile:1\n# escape=`\nFROM alpine`\n:3\n",
        &[],
        &[("alpine:3", None)],
    ),
    (
        "the escape character escapes in FROM",
        "# escape=`\nARG V=1\nFROM img:`$V\n",
        &[],
        &[("img:$V", None)],
    ),
    (
        "a UTF-8 BOM is ignored",
        "\u{feff}FROM alpine\n",
        &[],
        &[("alpine", None)],
    ),
    (
        "continuation with trailing spaces and CRLF",
        "FROM \\  \r\n alpine\r\nRUN echo\r\n",
        &[],
        &[("alpine", None)],
    ),
];

#[test]
fn base_images() {
    for &(what, text, build_args, expected) in BASES {
        let expected: Vec<BaseImage> = expected
            .iter()
            .map(|&(reference, platform)| match platform {
                Some(platform) => image_on(reference, platform),
                None => image(reference),
            })
            .collect();
        assert_eq!(
            parse_with(text, build_args).base_images(),
            expected,
            "{what}"
        );
    }
}

/// A stage in a table: its line, its name, and its base (`image NAME`, `stage N`, `scratch`).
type StageRow = (usize, Option<&'static str>, &'static str);

/// (what it shows, Dockerfile, every stage).
const STAGES: &[(&str, &str, &[StageRow])] = &[
    (
        "one FROM",
        "FROM alpine:3.19\nRUN echo hi\n",
        &[(1, None, "image alpine:3.19")],
    ),
    (
        "instructions are case-insensitive, names lower-cased",
        "from alpine As Build\nFrOm build\n",
        &[(1, Some("build"), "image alpine"), (2, None, "stage 0")],
    ),
    (
        "scratch",
        "FROM scratch\nCOPY a /a\n",
        &[(1, None, "scratch")],
    ),
    (
        "stages by name (any case) and by index",
        "FROM golang AS Build\nRUN go build\nFROM BUILD AS test\nFROM 0\nFROM alpine\nCOPY --from=build /x /x\n",
        &[
            (1, Some("build"), "image golang"),
            (3, Some("test"), "stage 0"),
            (4, None, "stage 0"),
            (5, None, "image alpine"),
        ],
    ),
    (
        "a stage named like an image",
        "FROM alpine AS alpine\nRUN touch /x\nFROM alpine\nFROM debian AS base\nFROM base\n",
        &[
            (1, Some("alpine"), "image alpine"),
            (3, None, "stage 0"),
            (4, Some("base"), "image debian"),
            (5, None, "stage 2"),
        ],
    ),
    (
        "a stage named through an ARG",
        "ARG STAGE=builder\nFROM golang AS builder\nFROM $STAGE\n",
        &[(2, Some("builder"), "image golang"), (3, None, "stage 0")],
    ),
    (
        "comments, blank lines and indentation",
        "# a comment\n\n   # indented comment\n\t FROM  \t alpine \n  RUN x\n",
        &[(4, None, "image alpine")],
    ),
    (
        "continuation lines",
        "FROM \\\n  --platform=linux/amd64 \\\n  alpine \\\n  AS base\nRUN a \\\n  b\nFROM base\n",
        &[(1, Some("base"), "image alpine"), (7, None, "stage 0")],
    ),
    (
        "comments and blank lines between continuation lines",
        "FROM \\\n# a comment\n\n  # another\n  alpine \\\n  # between\n  AS base\nFROM debian\n",
        &[(1, Some("base"), "image alpine"), (8, None, "image debian")],
    ),
    (
        "escape directive: with a backtick, a backslash at the end of a line is no continuation",
        "# escape=`\nFROM mcr.microsoft.com/windows/servercore `\n  AS base\nRUN dir c:\\ \nFROM base\n",
        &[
            (
                2,
                Some("base"),
                "image mcr.microsoft.com/windows/servercore",
            ),
            (5, None, "stage 0"),
        ],
    ),
    (
        "once a plain comment was read, `# escape=` is just a comment too",
        "# hello\n# escape=`\nFROM alpine \\\n  AS base\n",
        &[(3, Some("base"), "image alpine")],
    ),
    (
        "a UTF-8 BOM before a directive",
        "\u{feff}# escape=`\nFROM alpine `\n AS x\n",
        &[(2, Some("x"), "image alpine")],
    ),
    (
        "heredoc bodies are skipped",
        "# syntax=docker/dockerfile:1\nFROM alpine\nRUN <<EOF\nFROM debian\nEOF\nCOPY <<-\"END\" /x\n\tFROM ubuntu\n\tEND\nFROM busybox\n",
        &[(2, None, "image alpine"), (9, None, "image busybox")],
    ),
];

fn stage_row(stage: &Stage) -> (usize, Option<&str>, String) {
    let base = match &stage.base {
        StageBase::Image(image) => format!("image {}", image.reference),
        StageBase::Stage(index) => format!("stage {index}"),
        StageBase::Scratch => "scratch".to_string(),
    };
    (stage.line, stage.name.as_deref(), base)
}

#[test]
fn stages() {
    for &(what, text, expected) in STAGES {
        let dockerfile = parse(text);
        let stages: Vec<_> = dockerfile.stages().iter().map(stage_row).collect();
        let expected: Vec<_> = expected
            .iter()
            .map(|&(line, name, base)| (line, name, base.to_string()))
            .collect();
        assert_eq!(stages, expected, "{what}");
    }
}

/// (Dockerfile, the line of the error, a part of its message).
const ERRORS: &[(&str, usize, &str)] = &[
    (
        "FROM --platform alpine\n",
        1,
        "missing a value on flag: platform",
    ),
    ("\nFROM --pull=always alpine\n", 2, "unknown flag"),
    ("# escape=x\nFROM alpine\n", 1, "invalid escape token"),
    (
        "# escape=`\n# escape=\\\nFROM alpine\n",
        2,
        "only one escape",
    ),
    ("# only a comment\nARG A=1\n", 1, "no FROM"),
    ("", 1, "no FROM"),
    ("ARG A\nRUN echo\nFROM alpine\n", 2, "RUN"),
    ("ARG IMAGE\n\nFROM $IMAGE\n", 3, "$IMAGE"),
    ("FROM\n", 1, "one or three"),
    ("FROM a b\n", 1, "one or three"),
    ("FROM alpine AS\n", 1, "one or three"),
    ("FROM a xs b\n", 1, "one or three"),
    ("FROM a AS 1bad\n", 1, "invalid name for build stage"),
    ("FROM img:${TAG\n", 1, "missing '}'"),
    ("FROM img:${}\n", 1, "bad substitution"),
    ("FROM img:${TAG:x}\n", 1, "unsupported modifier"),
    ("ARG A\nFROM img:${A:?must_be_set}\n", 2, "A: must_be_set"),
    // Whitespace splits FROM's words before substitution, as in Docker.
    ("FROM img:${A:-a b}\n", 1, "one or three"),
    (
        "FROM alpine\nRUN <<EOF\necho\n",
        2,
        "unterminated heredoc EOF",
    ),
];

#[test]
fn errors_name_the_line() {
    for &(text, line, fragment) in ERRORS {
        let (error_line, message) = parse_error(text);
        assert_eq!(error_line, line, "{text:?}: {message}");
        assert!(message.contains(fragment), "{text:?}: {message}");
    }
}
