//! The context tar end to end: folders on disk through [`context_stream`] to the tar bytes.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use super::chunks::CHUNK_SIZE;
use super::*;

const DOCKERFILE_NAME: &str = ".mab-dockerfile-0123";
const DOCKERFILE_TEXT: &str = "FROM sha256:abc\n";

struct TarEntry {
    name: String,
    entry_type: tar::EntryType,
    mode: u32,
    link: Option<String>,
    content: Vec<u8>,
}

fn write_file(root: &Path, name: &str, content: &str) {
    let path = root.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create folders");
    }
    fs::write(path, content).expect("write file");
}

fn spec(root: &Path) -> ContextSpec {
    ContextSpec {
        context_dir: root.to_path_buf(),
        dockerfile_name: DOCKERFILE_NAME.to_string(),
        dockerfile_text: DOCKERFILE_TEXT.to_string(),
    }
}

async fn collect(stream: ContextStream) -> (Result<Vec<u8>, io::Error>, Result<(), BuildError>) {
    let mut body = stream.body;
    let mut bytes = Vec::new();
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                assert!(chunk.len() <= CHUNK_SIZE);
                bytes.extend_from_slice(&chunk);
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let produced = stream.producer.await.expect("producer task");
    (failure.map_or(Ok(bytes), Err), produced)
}

async fn tar_of(spec: ContextSpec) -> Vec<u8> {
    let (bytes, produced) = collect(context_stream(spec)).await;
    if let Err(error) = produced {
        panic!("producer failed: {error}");
    }
    bytes.expect("body")
}

fn read_tar(bytes: &[u8]) -> Vec<TarEntry> {
    let mut archive = tar::Archive::new(bytes);
    let mut entries = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let header = entry.header();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let entry_type = header.entry_type();
        let mode = header.mode().expect("mode");
        assert_eq!(header.uid().expect("uid"), 0);
        assert_eq!(header.gid().expect("gid"), 0);
        let link = entry
            .link_name()
            .expect("link name")
            .map(|link| link.to_string_lossy().into_owned());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("content");
        entries.push(TarEntry {
            name,
            entry_type,
            mode,
            link,
            content,
        });
    }
    entries
}

fn names(entries: &[TarEntry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.name.as_str()).collect()
}

fn entry<'a>(entries: &'a [TarEntry], name: &str) -> &'a TarEntry {
    entries
        .iter()
        .find(|entry| entry.name == name)
        .unwrap_or_else(|| panic!("no entry {name}"))
}

/// The entry names sent for a context of `files` with `.dockerignore` text `ignore`, less
/// the added Dockerfile and `.dockerignore`.
async fn sent(ignore: &str, files: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in files {
        write_file(dir.path(), file, file);
    }
    write_file(dir.path(), DOCKERIGNORE, ignore);
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    entries
        .into_iter()
        .map(|entry| entry.name)
        .filter(|name| name != DOCKERFILE_NAME && name != DOCKERIGNORE)
        .collect()
}

#[tokio::test]
async fn sends_files_folders_and_the_dockerfile() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "b.txt", "b");
    write_file(dir.path(), "a/z.txt", "z");
    write_file(dir.path(), "a.txt", "a");
    write_file(dir.path(), "Dockerfile", "FROM alpine\n");
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    assert_eq!(
        names(&entries),
        vec![
            "Dockerfile",
            "a/",
            "a/z.txt",
            "a.txt",
            "b.txt",
            ".dockerignore",
            DOCKERFILE_NAME
        ]
    );
    let dockerfile = entry(&entries, DOCKERFILE_NAME);
    assert_eq!(dockerfile.content, DOCKERFILE_TEXT.as_bytes());
    assert_eq!(dockerfile.mode, 0o644);
    assert_eq!(dockerfile.entry_type, tar::EntryType::Regular);
    assert_eq!(entry(&entries, "a/").entry_type, tar::EntryType::Directory);
    assert_eq!(entry(&entries, "a/z.txt").content, b"z");
    // Without a .dockerignore, one is made so the daemon drops the Dockerfile after reading.
    assert_eq!(
        String::from_utf8_lossy(&entry(&entries, ".dockerignore").content),
        format!(".dockerignore\n\n{DOCKERFILE_NAME}\n")
    );
}

#[tokio::test]
async fn dockerignore_is_sent_with_the_dockerfile_name_added() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), DOCKERIGNORE, "# ignore everything\n*\n");
    write_file(dir.path(), "a", "a");
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    assert_eq!(names(&entries), vec![".dockerignore", DOCKERFILE_NAME]);
    assert_eq!(
        String::from_utf8_lossy(&entry(&entries, ".dockerignore").content),
        format!("# ignore everything\n*\n\n{DOCKERFILE_NAME}\n")
    );
}

/// (files of the context, `.dockerignore`, the entries sent but the added two).
const SENT: &[(&[&str], &str, &[&str])] = &[
    (
        SOURCE_TREE,
        "*.log\ntarget\n",
        &["README.md", "src/", "src/debug.log", "src/main.rs"],
    ),
    (
        SOURCE_TREE,
        "**/*.log\n/target/\n",
        &["README.md", "src/", "src/main.rs"],
    ),
    (
        SOURCE_TREE,
        "# a comment\n\n   \n#*.md\n",
        &[
            "README.md",
            "a.log",
            "src/",
            "src/debug.log",
            "src/main.rs",
            "target/",
            "target/x",
        ],
    ),
    // The excluded folder's own entry is not sent, as with Docker.
    (
        DOCS_TREE,
        "docs\n!docs/keep\n",
        &[
            "docs/keep/",
            "docs/keep/b.md",
            "docs/keep/c/",
            "docs/keep/c/d.md",
            "x",
        ],
    ),
    (
        DOCS_TREE,
        "docs\n!docs/*.md\ndocs/z.md\n",
        &["docs/a.md", "x"],
    ),
    (
        DOCS_TREE,
        "*\n!docs/keep/c\n",
        &["docs/keep/c/", "docs/keep/c/d.md"],
    ),
    // A wildcard exception does not reach inside an excluded folder (as in Docker).
    (DOCS_TREE, "docs\n!*/a.md\n", &["x"]),
    (
        NODE_TREE,
        "**/node_modules\n",
        &["a/", "b/", "b/c/", "b/keep"],
    ),
    (
        NODE_TREE,
        "b/**\n",
        &[
            "a/",
            "a/node_modules/",
            "a/node_modules/x",
            "b/",
            "node_modules/",
            "node_modules/y",
        ],
    ),
];
const SOURCE_TREE: &[&str] = &[
    "a.log",
    "src/main.rs",
    "src/debug.log",
    "target/x",
    "README.md",
];
const DOCS_TREE: &[&str] = &[
    "docs/a.md",
    "docs/keep/b.md",
    "docs/keep/c/d.md",
    "docs/z.md",
    "x",
];
const NODE_TREE: &[&str] = &[
    "a/node_modules/x",
    "node_modules/y",
    "b/c/node_modules/z",
    "b/keep",
];

#[tokio::test]
async fn dockerignore_decides_what_is_sent() {
    for &(files, ignore, expected) in SENT {
        assert_eq!(sent(ignore, files).await, expected, "{ignore:?}");
    }
}

#[tokio::test]
async fn invalid_dockerignore_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), DOCKERIGNORE, "ok\n\n[oops\n");
    let (body, produced) = collect(context_stream(spec(dir.path()))).await;
    assert!(body.is_err());
    match produced {
        Err(BuildError::Dockerignore { line, .. }) => assert_eq!(line, 3),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn symlinks_are_kept_as_symlinks() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "real/file", "content");
    symlink("real/file", dir.path().join("link")).expect("symlink");
    symlink("/nowhere/at/all", dir.path().join("dangling")).expect("symlink");
    symlink("real", dir.path().join("folder-link")).expect("symlink");
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    let link = entry(&entries, "link");
    assert_eq!(link.entry_type, tar::EntryType::Symlink);
    assert_eq!(link.link.as_deref(), Some("real/file"));
    assert_eq!(
        entry(&entries, "dangling").link.as_deref(),
        Some("/nowhere/at/all")
    );
    let folder_link = entry(&entries, "folder-link");
    assert_eq!(folder_link.entry_type, tar::EntryType::Symlink);
    assert!(!names(&entries).contains(&"folder-link/file"));
}

#[tokio::test]
async fn permission_bits_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "run.sh", "#!/bin/sh\n");
    write_file(dir.path(), "plain", "x");
    write_file(dir.path(), "private/secret", "x");
    fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o755))
        .expect("chmod");
    fs::set_permissions(dir.path().join("plain"), fs::Permissions::from_mode(0o640))
        .expect("chmod");
    fs::set_permissions(
        dir.path().join("private"),
        fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    assert_eq!(entry(&entries, "run.sh").mode, 0o755);
    assert_eq!(entry(&entries, "plain").mode, 0o640);
    assert_eq!(entry(&entries, "private/").mode, 0o700);
}

#[tokio::test]
async fn modification_times_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "old", "x");
    let mtime = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    File::options()
        .write(true)
        .open(dir.path().join("old"))
        .and_then(|file| file.set_modified(mtime))
        .expect("set mtime");
    let bytes = tar_of(spec(dir.path())).await;
    let mut archive = tar::Archive::new(bytes.as_slice());
    let old = archive
        .entries()
        .expect("entries")
        .filter_map(Result::ok)
        .find(|entry| entry.path_bytes().as_ref() == b"old")
        .expect("old entry");
    assert_eq!(old.header().mtime().expect("mtime"), 1_000_000_000);
}

#[tokio::test]
async fn special_files_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "file", "x");
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("socket"))
        .expect("bind a unix socket");
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    assert_eq!(
        names(&entries),
        vec!["file", ".dockerignore", DOCKERFILE_NAME]
    );
}

#[tokio::test]
async fn long_names_and_big_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(120));
    write_file(dir.path(), &long, "long");
    let big = "0123456789abcdef".repeat(20_000);
    write_file(dir.path(), "big", &big);
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    assert_eq!(entry(&entries, &long).content, b"long");
    assert_eq!(entry(&entries, "big").content, big.as_bytes());
}

#[tokio::test]
async fn same_inputs_give_the_same_tar() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["c", "a/b", "a/a", "B", "_"] {
        write_file(dir.path(), name, name);
    }
    let first = tar_of(spec(dir.path())).await;
    let second = tar_of(spec(dir.path())).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn missing_context_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let (body, produced) = collect(context_stream(spec(&missing))).await;
    assert!(body.is_err(), "the body ends with an error");
    assert!(
        matches!(produced, Err(BuildError::ContextMissing { ref path }) if *path == missing),
        "{produced:?}"
    );
    write_file(dir.path(), "file", "x");
    let (_, produced) = collect(context_stream(spec(&dir.path().join("file")))).await;
    assert!(matches!(produced, Err(BuildError::ContextMissing { .. })));
}

#[tokio::test]
async fn dockerfile_name_collision() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), DOCKERFILE_NAME, "mine");
    let (_, produced) = collect(context_stream(spec(dir.path()))).await;
    assert!(
        matches!(produced, Err(BuildError::DockerfileNameTaken { ref name, .. }) if name == DOCKERFILE_NAME),
        "{produced:?}"
    );

    // A file where the name needs a folder collides too.
    let mut nested = spec(dir.path());
    nested.dockerfile_name = format!("{DOCKERFILE_NAME}/Dockerfile");
    let (_, produced) = collect(context_stream(nested)).await;
    assert!(matches!(
        produced,
        Err(BuildError::DockerfileNameTaken { .. })
    ));

    // An excluded file is not sent, so it does not collide.
    write_file(dir.path(), DOCKERIGNORE, ".mab-*\n");
    let entries = read_tar(&tar_of(spec(dir.path())).await);
    assert_eq!(
        entry(&entries, DOCKERFILE_NAME).content,
        DOCKERFILE_TEXT.as_bytes()
    );

    // A name inside an existing folder is fine.
    write_file(dir.path(), "sub/file", "x");
    let mut inside = spec(dir.path());
    inside.dockerfile_name = "sub/Dockerfile.mab".to_string();
    let entries = read_tar(&tar_of(inside).await);
    assert!(names(&entries).contains(&"sub/Dockerfile.mab"));
}

#[tokio::test]
async fn invalid_dockerfile_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bad = spec(dir.path());
    bad.dockerfile_name = "../Dockerfile".to_string();
    let (_, produced) = collect(context_stream(bad)).await;
    assert!(matches!(
        produced,
        Err(BuildError::DockerfileNameInvalid { .. })
    ));
}

#[tokio::test]
async fn unreadable_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "locked", "secret");
    let locked = dir.path().join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    if File::open(&locked).is_ok() {
        // Running as root (or with CAP_DAC_OVERRIDE): permissions cannot make the file
        // unreadable; `vanished_file_is_named` covers the same error path.
        return;
    }
    let (body, produced) = collect(context_stream(spec(dir.path()))).await;
    assert!(body.is_err());
    assert!(
        matches!(produced, Err(BuildError::ContextRead { ref path, .. }) if *path == locked),
        "{produced:?}"
    );
}

/// Writes the tar of a plan made earlier (the folder may have changed since), reading and
/// dropping its chunks; the writer's result.
async fn write_planned(spec: ContextSpec, plan: walk::ContextPlan) -> Result<(), BuildError> {
    let (sender, mut receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let writer =
        tokio::task::spawn_blocking(move || write_context(&spec, &plan, ChunkWriter::new(sender)));
    while receiver.recv().await.is_some() {}
    writer.await.expect("writer task")
}

#[tokio::test]
async fn vanished_file_is_named() {
    // A file listed by the walk but gone when its content is read: an open failure that
    // happens even as root.
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "a", "a");
    write_file(dir.path(), "gone", "soon");
    let spec = spec(dir.path());
    let plan = plan_context(&spec).expect("plan");
    let gone = dir.path().join("gone");
    fs::remove_file(&gone).expect("remove");
    let result = write_planned(spec, plan).await;
    assert!(
        matches!(result, Err(BuildError::ContextRead { ref path, .. }) if *path == gone),
        "{result:?}"
    );
}

#[tokio::test]
async fn file_that_shrank_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "changing", "0123456789");
    let spec = spec(dir.path());
    let plan = plan_context(&spec).expect("plan");
    write_file(dir.path(), "changing", "01");
    let result = write_planned(spec, plan).await;
    assert!(
        matches!(result, Err(BuildError::ContextRead { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn dropping_the_body_stops_the_producer() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Far more than the channel holds.
    write_file(dir.path(), "big", &"x".repeat(4 * 1024 * 1024));
    let mut stream = context_stream(spec(dir.path()));
    let first = stream.body.next().await;
    assert!(matches!(first, Some(Ok(_))));
    drop(stream.body);
    let produced = tokio::time::timeout(Duration::from_secs(10), stream.producer)
        .await
        .expect("the producer stops soon")
        .expect("producer task");
    assert!(
        matches!(produced, Err(BuildError::ContextStreamClosed { .. })),
        "{produced:?}"
    );
}

#[test]
fn plan_lists_in_byte_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["b", "a.b", "a/c", "A", "a-"] {
        write_file(dir.path(), name, name);
    }
    let plan = plan_context(&spec(dir.path())).expect("plan");
    let listed: Vec<String> = plan
        .entries
        .iter()
        .map(|entry| entry.name.to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, vec!["A", "a", "a/c", "a-", "a.b", "b"]);
}
