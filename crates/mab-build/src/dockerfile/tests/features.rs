//! What real-world Dockerfiles use, as tables: the features with their lines, the `# syntax=`
//! line, the secret and ssh ids, which stages a target needs, and what each engine lacks.

use super::*;
use crate::BuilderKind;

/// Docker's cross-compilation example (docs.docker.com, "Multi-platform builds" with Go).
const GO_CROSS: &str = r#"# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    go mod download -x
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,target=. \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /bin/server .

FROM alpine:3.19 AS final
RUN --mount=type=cache,target=/var/cache/apk \
    apk --update add ca-certificates tzdata && update-ca-certificates
COPY --from=build /bin/server /bin/
ENTRYPOINT [ "/bin/server" ]
"#;

/// Heredocs as Docker's blog post introduced them ("Introduction to heredocs in Dockerfiles"),
/// with bodies that look like instructions.
const HEREDOCS: &str = "# syntax=docker/dockerfile:1.4
FROM debian:12 AS base
RUN <<EOT bash
  set -ex
  apt-get update
  apt-get install -y vim
EOT
RUN <<EOF
FROM ubuntu
EOF
COPY <<-EOT /app/script.sh
\techo hello
\tFROM alpine
\tEOT
RUN <<FILE1 cat > file1 && <<FILE2 cat > file2
I am
first
FILE1
FROM scratch
FILE2
COPY <<\"EOF\" /etc/motd
Welcome $USER
EOF
ONBUILD RUN <<EOF
FROM busybox
EOF
FROM busybox:1.36
COPY --from=base /app/script.sh /
";

/// A Node.js image with private packages: a secret file, an ssh agent, `COPY --link --chmod`.
const NODE_PRIVATE: &str = "FROM node:20-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc,required \\
    --mount=type=cache,target=/root/.npm \\
    npm ci
RUN --mount=type=ssh,id=github git clone git@github.com:org/private.git
RUN --mount=type=ssh npm run postinstall

FROM node:20-alpine
COPY --link --chmod=755 entrypoint.sh /usr/local/bin/
COPY --link=false --from=deps /app/node_modules ./node_modules
RUN --mount=type=secret,target=/run/secrets/sentry_token,required=false \\
    --mount=type=tmpfs,target=/tmp \\
    npm run build
";

/// The newest syntax: secrets as variables, ADD of git and with checksums, --parents,
/// --exclude, RUN --network and --security.
const NEWEST: &str = r#"# syntax=docker/dockerfile:1.10
FROM python:3.12-slim AS app
RUN --mount=type=secret,id=pip_token,env=PIP_TOKEN,required \
    pip install --index-url "https://__token__:$PIP_TOKEN@pypi.example/simple" app
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.tar.gz /tmp/
ADD git@github.com:moby/buildkit.git#v0.10.1 /buildkit
ADD ["https://github.com/moby/moby.git", "/moby"]
ADD --keep-git-dir=true https://example.com/repo /repo
ADD https://example.com/archive.tar.gz /archive/
COPY --parents ./x/*.txt /out/
COPY --exclude=*.md --exclude=docs/ . /app
RUN --network=none make test
RUN --network=host curl https://example.com
RUN --security=insecure mount -t tmpfs none /mnt
RUN --security=sandbox true

FROM app AS test
RUN --mount=type=secret,id=test_db,required pytest
"#;

/// A Dockerfile the classic builder builds: nothing of BuildKit's.
const CLASSIC: &str = "ARG BASE=debian:12
FROM --platform=linux/amd64 $BASE AS tools
RUN apt-get update && apt-get install -y curl
FROM ${BASE}
COPY --from=tools /usr/bin/curl /usr/bin/curl
COPY --chown=1000:1000 app /app
";

type FeatureRow = (usize, Feature);

/// (name, Dockerfile, every feature use with its line, in order).
const FEATURES: &[(&str, &str, &[FeatureRow])] = &[
    (
        "GO_CROSS",
        GO_CROSS,
        &[
            (2, Feature::FromBuildPlatform),
            (6, Feature::RunMount(MountType::Cache)),
            (6, Feature::RunMount(MountType::Cache)),
            (6, Feature::RunMount(MountType::Bind)),
            (6, Feature::RunMount(MountType::Bind)),
            (11, Feature::RunMount(MountType::Cache)),
            (11, Feature::RunMount(MountType::Bind)),
            (16, Feature::RunMount(MountType::Cache)),
        ],
    ),
    (
        "HEREDOCS",
        HEREDOCS,
        &[
            (3, Feature::Heredoc),
            (8, Feature::Heredoc),
            (11, Feature::Heredoc),
            (15, Feature::Heredoc),
            (21, Feature::Heredoc),
            (24, Feature::Heredoc),
        ],
    ),
    (
        "NODE_PRIVATE",
        NODE_PRIVATE,
        &[
            (4, Feature::RunMount(MountType::Secret)),
            (4, Feature::RunMount(MountType::Cache)),
            (7, Feature::RunMount(MountType::Ssh)),
            (8, Feature::RunMount(MountType::Ssh)),
            (11, Feature::Link),
            (11, Feature::Chmod),
            (13, Feature::RunMount(MountType::Secret)),
            (13, Feature::RunMount(MountType::Tmpfs)),
        ],
    ),
    (
        "NEWEST",
        NEWEST,
        &[
            (3, Feature::RunMount(MountType::Secret)),
            (3, Feature::SecretEnv),
            (5, Feature::AddChecksum),
            (6, Feature::AddGit),
            (7, Feature::AddGit),
            (8, Feature::AddGit),
            (10, Feature::Parents),
            (11, Feature::Exclude),
            (11, Feature::Exclude),
            (12, Feature::RunNetwork),
            (13, Feature::RunNetworkHost),
            (14, Feature::RunSecurityInsecure),
            (15, Feature::RunSecurity),
            (18, Feature::RunMount(MountType::Secret)),
        ],
    ),
    ("CLASSIC", CLASSIC, &[(2, Feature::FromPlatform)]),
    (
        "automatic args in FROM --platform",
        "ARG TARGETARCH\nFROM --platform=linux/$TARGETARCH a\nFROM --platform=$TARGETPLATFORM b\nFROM --platform=${BUILDOS}/${BUILDARCH} c\nFROM --platform=\"$TARGETOS/arm64\" d\n",
        &[
            (2, Feature::FromPlatform),
            (3, Feature::FromTargetPlatform),
            (4, Feature::FromBuildPlatform),
            (5, Feature::FromTargetPlatform),
        ],
    ),
    (
        "heredoc words that are not heredocs",
        "FROM a\nRUN echo a<<b\nRUN cat <<< word\nCMD <<EOF\nFROM b\n",
        &[],
    ),
];

#[test]
fn features_with_their_lines() {
    for &(name, text, expected) in FEATURES {
        let dockerfile = parse(text);
        let found: Vec<FeatureRow> = dockerfile
            .features()
            .iter()
            .map(|usage| (usage.line(), usage.feature()))
            .collect();
        assert_eq!(found, expected, "{name}");
    }
}

#[test]
fn heredoc_bodies_are_not_instructions() {
    let dockerfile = parse(HEREDOCS);
    let lines: Vec<usize> = dockerfile.stages().iter().map(|stage| stage.line).collect();
    assert_eq!(lines, vec![2, 27]);
    let bases: Vec<BaseImage> = dockerfile.base_images();
    assert_eq!(bases, vec![image("debian:12"), image("busybox:1.36")]);
}

/// A syntax line in a table: its reference and line.
type SyntaxRow = Option<(&'static str, usize)>;

/// (name, Dockerfile, the syntax line).
const SYNTAX: &[(&str, &str, SyntaxRow)] = &[
    ("GO_CROSS", GO_CROSS, Some(("docker/dockerfile:1", 1))),
    ("HEREDOCS", HEREDOCS, Some(("docker/dockerfile:1.4", 1))),
    ("NODE_PRIVATE", NODE_PRIVATE, None),
    (
        "after an escape directive, spaced",
        "# escape=`\n#  SYNTAX = docker/dockerfile:1-labs \nFROM a\n",
        Some(("docker/dockerfile:1-labs", 2)),
    ),
    (
        "after a comment it is a comment",
        "# hello\n# syntax=docker/dockerfile:1\nFROM a\n",
        None,
    ),
];

#[test]
fn syntax_directive() {
    for &(name, text, expected) in SYNTAX {
        let dockerfile = parse(text);
        let found = dockerfile
            .syntax()
            .map(|syntax| (syntax.reference(), syntax.line()));
        assert_eq!(found, expected, "{name}");
    }
    let dockerfile = parse("# check=skip=JSONArgsRecommended\n# escape=`\nFROM a\n");
    assert_eq!(dockerfile.check(), Some("skip=JSONArgsRecommended"));
    assert_eq!(dockerfile.escape(), '`');
}

type IdRow = (&'static str, bool, usize);

/// One row of [`MOUNTED`]: (name, Dockerfile, target, secret ids (id, required, line), ssh ids).
type MountedCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [IdRow],
    &'static [IdRow],
);

const MOUNTED: &[MountedCase] = &[
    (
        "NODE_PRIVATE, the last stage needs deps",
        NODE_PRIVATE,
        None,
        &[("npmrc", true, 4), ("sentry_token", false, 13)],
        &[("github", false, 7), ("default", false, 8)],
    ),
    (
        "NODE_PRIVATE, target deps",
        NODE_PRIVATE,
        Some("DEPS"),
        &[("npmrc", true, 4)],
        &[("github", false, 7), ("default", false, 8)],
    ),
    (
        "NEWEST, target app",
        NEWEST,
        Some("app"),
        &[("pip_token", true, 3)],
        &[],
    ),
    (
        "NEWEST, the last stage starts from app",
        NEWEST,
        None,
        &[("pip_token", true, 3), ("test_db", true, 18)],
        &[],
    ),
    (
        "an unknown target: every stage",
        NEWEST,
        Some("nope"),
        &[("pip_token", true, 3), ("test_db", true, 18)],
        &[],
    ),
    (
        "a stage reached by a bind mount's from, by index",
        "FROM a\nRUN --mount=type=secret,id=s1 x\nFROM b\nRUN --mount=type=secret,id=s2 x\nFROM c\nRUN --mount=from=0,target=/a --mount=type=ssh,id=k,required x\n",
        None,
        &[("s1", false, 2)],
        &[("k", true, 6)],
    ),
];

fn id_rows(ids: &[MountedId]) -> Vec<(&str, bool, usize)> {
    ids.iter()
        .map(|id| (id.id(), id.required(), id.line()))
        .collect()
}

#[test]
fn secret_and_ssh_ids_of_a_target() {
    for &(name, text, target, secrets, ssh) in MOUNTED {
        let dockerfile = parse(text);
        assert_eq!(
            id_rows(&dockerfile.secret_ids(target)),
            secrets,
            "{name}: secrets"
        );
        assert_eq!(id_rows(&dockerfile.ssh_ids(target)), ssh, "{name}: ssh");
    }
    let dockerfile = parse(NEWEST);
    let secret = &dockerfile.secret_mounts()[0];
    assert_eq!(
        (secret.id(), secret.env(), secret.target(), secret.stage()),
        ("pip_token", Some("PIP_TOKEN"), None, 0)
    );
}

/// The cross-compilation Dockerfile with the automatic args the daemon driver passes for an
/// arm64 build on an amd64 daemon: the build stage's base is the builder's platform, the pinned
/// text keeps `$BUILDPLATFORM` for BuildKit to expand, and the final stage is the target's.
#[test]
fn build_platform_stage_substitutes_the_automatic_args() {
    let automatic = [
        ("TARGETPLATFORM", "linux/arm64/v8"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm64"),
        ("TARGETVARIANT", "v8"),
        ("BUILDPLATFORM", "linux/amd64"),
        ("BUILDOS", "linux"),
        ("BUILDARCH", "amd64"),
        ("BUILDVARIANT", ""),
    ];
    let dockerfile = parse_with(GO_CROSS, &automatic);
    assert_eq!(
        dockerfile.base_images(),
        vec![
            image_on("golang:1.22-alpine", "linux/amd64"),
            image("alpine:3.19")
        ]
    );
    let pinned = dockerfile.pinned(&BTreeMap::from([
        (
            image_on("golang:1.22-alpine", "linux/amd64"),
            "sha256:go".to_string(),
        ),
        (image("alpine:3.19"), "sha256:alpine".to_string()),
    ]));
    assert!(
        pinned.contains("FROM --platform=$BUILDPLATFORM sha256:go AS build\n"),
        "{pinned}"
    );
    assert!(pinned.contains("FROM sha256:alpine AS final\n"), "{pinned}");
    assert_eq!(pinned.lines().count(), GO_CROSS.lines().count());
}

type UnsupportedRow = (usize, Feature, Option<EngineVersion>);

const V20_10_24: EngineVersion = EngineVersion::new(20, 10, 24);
const V23: EngineVersion = EngineVersion::new(23, 0, 0);
const V25: EngineVersion = EngineVersion::new(25, 0, 0);
const V26_1_5: EngineVersion = EngineVersion::new(26, 1, 5);
const V27_3: EngineVersion = EngineVersion::new(27, 3, 0);
const V28_5: EngineVersion = EngineVersion::new(28, 5, 0);
const V28_5_2: EngineVersion = EngineVersion::new(28, 5, 2);
const V29_1: EngineVersion = EngineVersion::new(29, 1, 0);

/// One row of [`UNSUPPORTED`]: (name, Dockerfile, engine, builder, the unsupported uses with
/// the oldest engine having them).
type UnsupportedCase = (
    &'static str,
    &'static str,
    EngineVersion,
    BuilderKind,
    &'static [UnsupportedRow],
);

const UNSUPPORTED: &[UnsupportedCase] = &[
    ("GO_CROSS", GO_CROSS, V20_10_24, BuilderKind::BuildKit, &[]),
    (
        "GO_CROSS",
        GO_CROSS,
        V28_5_2,
        BuilderKind::Classic,
        &[
            (2, Feature::FromBuildPlatform, None),
            (6, Feature::RunMount(MountType::Cache), None),
            (6, Feature::RunMount(MountType::Cache), None),
            (6, Feature::RunMount(MountType::Bind), None),
            (6, Feature::RunMount(MountType::Bind), None),
            (11, Feature::RunMount(MountType::Cache), None),
            (11, Feature::RunMount(MountType::Bind), None),
            (16, Feature::RunMount(MountType::Cache), None),
        ],
    ),
    (
        "HEREDOCS",
        HEREDOCS,
        V20_10_24,
        BuilderKind::BuildKit,
        &[
            (3, Feature::Heredoc, Some(V23)),
            (8, Feature::Heredoc, Some(V23)),
            (11, Feature::Heredoc, Some(V23)),
            (15, Feature::Heredoc, Some(V23)),
            (21, Feature::Heredoc, Some(V23)),
            (24, Feature::Heredoc, Some(V23)),
        ],
    ),
    ("HEREDOCS", HEREDOCS, V23, BuilderKind::BuildKit, &[]),
    (
        "NODE_PRIVATE",
        NODE_PRIVATE,
        V20_10_24,
        BuilderKind::BuildKit,
        &[(11, Feature::Link, Some(V23))],
    ),
    (
        "NODE_PRIVATE",
        NODE_PRIVATE,
        V26_1_5,
        BuilderKind::BuildKit,
        &[],
    ),
    (
        "NEWEST",
        NEWEST,
        V26_1_5,
        BuilderKind::BuildKit,
        &[
            (3, Feature::SecretEnv, Some(V27_3)),
            (10, Feature::Parents, Some(V29_1)),
            (11, Feature::Exclude, Some(V28_5)),
            (11, Feature::Exclude, Some(V28_5)),
            (14, Feature::RunSecurityInsecure, None),
            (15, Feature::RunSecurity, Some(V29_1)),
        ],
    ),
    (
        "NEWEST",
        NEWEST,
        V28_5_2,
        BuilderKind::BuildKit,
        &[
            (10, Feature::Parents, Some(V29_1)),
            (14, Feature::RunSecurityInsecure, None),
            (15, Feature::RunSecurity, Some(V29_1)),
        ],
    ),
    (
        "NEWEST",
        NEWEST,
        V23,
        BuilderKind::BuildKit,
        &[
            (3, Feature::SecretEnv, Some(V27_3)),
            (5, Feature::AddChecksum, Some(V25)),
            (6, Feature::AddGit, Some(V25)),
            (7, Feature::AddGit, Some(V25)),
            (8, Feature::AddGit, Some(V25)),
            (10, Feature::Parents, Some(V29_1)),
            (11, Feature::Exclude, Some(V28_5)),
            (11, Feature::Exclude, Some(V28_5)),
            (14, Feature::RunSecurityInsecure, None),
            (15, Feature::RunSecurity, Some(V29_1)),
        ],
    ),
    ("CLASSIC", CLASSIC, V20_10_24, BuilderKind::Classic, &[]),
    ("CLASSIC", CLASSIC, V20_10_24, BuilderKind::BuildKit, &[]),
];

#[test]
fn what_each_engine_lacks() {
    for &(name, text, engine, builder, expected) in UNSUPPORTED {
        let dockerfile = parse(text);
        let found: Vec<UnsupportedRow> = dockerfile
            .unsupported(engine, builder)
            .iter()
            .map(|item| {
                (
                    item.usage().line(),
                    item.usage().feature(),
                    item.minimum_engine(),
                )
            })
            .collect();
        assert_eq!(found, expected, "{name} on {engine} with {builder}");
    }
}

#[test]
fn unsupported_is_an_error_naming_file_line_feature_and_engine() {
    let dockerfile = parse(NODE_PRIVATE);
    assert!(
        dockerfile
            .check_supported(V23, BuilderKind::BuildKit)
            .is_ok()
    );
    let message = match dockerfile.check_supported(V20_10_24, BuilderKind::BuildKit) {
        Err(error) => error.to_string(),
        Ok(()) => panic!("20.10 has no COPY --link"),
    };
    assert_eq!(
        message,
        "Dockerfile:11: COPY --link needs docker 23.0.0 or later with BuildKit; this engine is docker 20.10.24"
    );
    let message = match parse(HEREDOCS).check_supported(V28_5_2, BuilderKind::Classic) {
        Err(error) => error.to_string(),
        Ok(()) => panic!("the classic builder has no heredocs"),
    };
    assert!(
        message.starts_with("Dockerfile:3: a heredoc (<<EOF) needs BuildKit; the classic builder (docker 28.5.2) does not have it; Dockerfile:8: "),
        "{message}"
    );
}

#[test]
fn what_the_dockerfile_fetches_besides_its_bases_is_told() {
    for (text, remote, other_images) in [
        ("FROM a\nCOPY x /x\nADD y.tar /y\n", false, false),
        ("FROM a\nADD https://example.com/f /f\n", true, false),
        (
            "FROM a\nADD --chmod=644 [\"http://example.com/f\", \"/f\"]\n",
            true,
            false,
        ),
        ("FROM a\nADD git@github.com:o/r.git /src\n", true, false),
        ("FROM a\nCOPY https://example.com/f /f\n", false, false),
        (
            "FROM a AS b\nFROM c\nCOPY --from=b /x /x\nCOPY --from=0 /y /y\n",
            false,
            false,
        ),
        (
            "FROM a AS b\nFROM c\nCOPY --from=alpine:3 /x /x\n",
            false,
            true,
        ),
        (
            "FROM a\nRUN --mount=from=busybox,target=/b ls /b\n",
            false,
            true,
        ),
    ] {
        let dockerfile = parse(text);
        assert_eq!(dockerfile.reads_remote_sources(), remote, "{text}");
        assert_eq!(dockerfile.reads_other_images(), other_images, "{text}");
    }
}
