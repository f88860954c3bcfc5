//! The build context: the files of a folder (less what `.dockerignore` excludes) as a tar stream,
//! plus mab's rewritten Dockerfile, sent to the daemon without holding the whole tar in memory.
//!
//! What goes in follows what the Docker CLI sends for `docker build -f - <folder>` (a Dockerfile
//! that is not a file of the context):
//! - the `.dockerignore` at the context root is read with Docker's rules (see
//!   [`IgnorePatterns`]) and every file, folder and symlink it does not exclude is sent, with its
//!   permission bits and modification time, owned by uid/gid 0; sockets, fifos and devices are
//!   skipped;
//! - the `.dockerignore` itself is always sent, with the Dockerfile's name added as its last
//!   line (one is made, listing itself and the Dockerfile, when the context has none), so that
//!   the daemon drops the Dockerfile from the context after reading it and a `COPY . .` never
//!   copies it into the image;
//! - the Dockerfile is added last, as a regular file with mode 0644.
//!
//! Entries come folder by folder in byte order of their names (a folder right before its
//! contents), so the same folder gives the same tar.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use regex::Regex;
use tokio::sync::mpsc;

use crate::BuildError;

/// The size of the chunks the body stream yields.
const CHUNK_SIZE: usize = 64 * 1024;
/// How many chunks may wait in the channel before the producer blocks.
const CHANNEL_CHUNKS: usize = 8;
/// The name of the ignore file at the context root.
const DOCKERIGNORE: &str = ".dockerignore";
/// The permission bits of the added Dockerfile (and of a generated `.dockerignore`).
const ADDED_FILE_MODE: u32 = 0o644;

/// What goes into one build context.
#[derive(Debug, Clone)]
pub struct ContextSpec {
    /// The context folder.
    pub context_dir: PathBuf,
    /// The path of the (rewritten) Dockerfile inside the tar, e.g. `.mab/Dockerfile.<hex>`;
    /// it must not collide with a context file.
    pub dockerfile_name: String,
    /// The Dockerfile text to put at `dockerfile_name` (mab's pinned rewrite of the user's file).
    pub dockerfile_text: String,
}

/// A context tar as a stream of chunks, and the task producing it (its result says whether every
/// file could be read).
///
/// When the producer fails, the body's last item is an error (so an upload of it fails rather
/// than sending a truncated tar); the producer's result says what went wrong.
pub struct ContextStream {
    /// The tar, in chunks of at most 64 KiB.
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>,
    /// The blocking task writing the tar: `ContextMissing`, `ContextRead` (naming the file),
    /// `Dockerignore`, `DockerfileNameTaken`, `DockerfileNameInvalid`, or `ContextStreamClosed`
    /// when `body` was dropped before the end.
    pub producer: tokio::task::JoinHandle<Result<(), BuildError>>,
}

/// Starts producing the context tar of `spec` on a blocking thread of the current tokio runtime
/// (so it must be called from within one).
///
/// At most about half a MiB of the tar is buffered: the producer waits while the body is not
/// read, and stops with `ContextStreamClosed` soon after the body is dropped.
pub fn context_stream(spec: ContextSpec) -> ContextStream {
    let (sender, mut receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let producer = tokio::task::spawn_blocking(move || {
        let failure_sender = sender.clone();
        let result = plan_context(&spec)
            .and_then(|plan| write_context(&spec, &plan, ChunkWriter::new(sender)));
        if let Err(error) = &result {
            // Fails the upload instead of ending the body like a complete tar. When the
            // receiver is gone there is nobody to tell, and sending fails at once.
            let _ = failure_sender.blocking_send(Err(io::Error::other(error.to_string())));
        }
        result
    });
    let body = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed();
    ContextStream { body, producer }
}

/// The entries of a context, found on disk, to be written to the tar.
struct ContextPlan {
    entries: Vec<PlannedEntry>,
    /// The `.dockerignore` to send, with the Dockerfile's name added.
    dockerignore: Vec<u8>,
    /// Whether the context has a `.dockerignore` (sent at its place among the entries) or one
    /// must be added at the end.
    dockerignore_source: DockerignoreSource,
}

/// Where the `.dockerignore` that is sent comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DockerignoreSource {
    /// The context has one; its entry is among the planned entries.
    Context,
    /// The context has none; one is added at the end of the tar.
    Generated,
}

/// One file, folder or symlink of the context.
#[derive(Debug, Clone)]
struct PlannedEntry {
    /// The path relative to the context folder, as in the tar.
    name: PathBuf,
    kind: EntryKind,
    /// The permission bits (with setuid, setgid and sticky).
    mode: u32,
    /// Seconds since the Unix epoch (0 for earlier times).
    mtime: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryKind {
    Directory,
    File {
        size: u64,
    },
    Symlink,
    /// The context's `.dockerignore`, sent with the Dockerfile's name added.
    Dockerignore,
}

fn read_error(path: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |source| BuildError::ContextRead {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks `name` is a plain relative path: no empty, `.` or `..` parts, not `.dockerignore`.
fn check_dockerfile_name(name: &str) -> Result<(), BuildError> {
    let valid = !name.is_empty()
        && name != DOCKERIGNORE
        && !name.contains('\0')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if valid {
        Ok(())
    } else {
        Err(BuildError::DockerfileNameInvalid {
            name: name.to_string(),
        })
    }
}

/// Walks the context folder and lists what goes into the tar (without reading file contents).
fn plan_context(spec: &ContextSpec) -> Result<ContextPlan, BuildError> {
    let root = &spec.context_dir;
    match fs::metadata(root) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => return Err(BuildError::ContextMissing { path: root.clone() }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(BuildError::ContextMissing { path: root.clone() });
        }
        Err(error) => return Err(read_error(root)(error)),
    }
    check_dockerfile_name(&spec.dockerfile_name)?;

    let dockerignore_path = root.join(DOCKERIGNORE);
    let (patterns, mut dockerignore, dockerignore_source) = match fs::read(&dockerignore_path) {
        Ok(bytes) => {
            let patterns =
                IgnorePatterns::parse(&String::from_utf8_lossy(&bytes), &dockerignore_path)?;
            (patterns, bytes, DockerignoreSource::Context)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => (
            IgnorePatterns::default(),
            format!("{DOCKERIGNORE}\n").into_bytes(),
            DockerignoreSource::Generated,
        ),
        Err(error) => return Err(read_error(&dockerignore_path)(error)),
    };
    dockerignore.extend_from_slice(format!("\n{}\n", spec.dockerfile_name).as_bytes());
    let patterns = patterns.keeping_dockerignore();

    let mut walker = ContextWalker {
        root,
        patterns: &patterns,
        entries: Vec::new(),
    };
    walker.walk(Path::new(""), "", &MatchedPatterns::default())?;

    let taken = walker.entries.iter().any(|entry| {
        let entry_name = entry.name.to_string_lossy();
        entry_name == spec.dockerfile_name
            || (entry.kind != EntryKind::Directory
                && spec
                    .dockerfile_name
                    .strip_prefix(entry_name.as_ref())
                    .is_some_and(|rest| rest.starts_with('/')))
    });
    if taken {
        return Err(BuildError::DockerfileNameTaken {
            context: root.clone(),
            name: spec.dockerfile_name.clone(),
        });
    }
    Ok(ContextPlan {
        entries: walker.entries,
        dockerignore,
        dockerignore_source,
    })
}

/// Walks the context folder depth first, entries of each folder in byte order of their names.
struct ContextWalker<'a> {
    root: &'a Path,
    patterns: &'a IgnorePatterns,
    entries: Vec<PlannedEntry>,
}

impl ContextWalker<'_> {
    /// Lists the folder `folder` (relative to the root; `folder_key` is the same as matched by
    /// the patterns), which matched the patterns `matched`.
    fn walk(
        &mut self,
        folder: &Path,
        folder_key: &str,
        matched: &MatchedPatterns,
    ) -> Result<(), BuildError> {
        let folder_path = self.root.join(folder);
        let mut names: Vec<OsString> = Vec::new();
        for entry in fs::read_dir(&folder_path).map_err(read_error(&folder_path))? {
            names.push(entry.map_err(read_error(&folder_path))?.file_name());
        }
        names.sort();
        for file_name in names {
            let name = folder.join(&file_name);
            let key = if folder_key.is_empty() {
                file_name.to_string_lossy().into_owned()
            } else {
                format!("{folder_key}/{}", file_name.to_string_lossy())
            };
            let path = self.root.join(&name);
            let metadata = fs::symlink_metadata(&path).map_err(read_error(&path))?;
            let file_type = metadata.file_type();
            let (excluded, entry_matched) = self.patterns.matches(&key, matched);
            if excluded {
                // An exception may re-include something inside an excluded folder.
                if file_type.is_dir() && self.patterns.may_reinclude_under(&key) {
                    self.walk(&name, &key, &entry_matched)?;
                }
                continue;
            }
            let kind = if file_type.is_dir() {
                EntryKind::Directory
            } else if file_type.is_symlink() && key != DOCKERIGNORE {
                EntryKind::Symlink
            } else if key == DOCKERIGNORE && folder_key.is_empty() {
                EntryKind::Dockerignore
            } else if file_type.is_file() {
                EntryKind::File {
                    size: metadata.len(),
                }
            } else {
                // Sockets, fifos and devices are not sent.
                continue;
            };
            let mode = if kind == EntryKind::Dockerignore && file_type.is_symlink() {
                ADDED_FILE_MODE
            } else {
                metadata.mode() & 0o7777
            };
            self.entries.push(PlannedEntry {
                name: name.clone(),
                kind: kind.clone(),
                mode,
                mtime: u64::try_from(metadata.mtime()).unwrap_or(0),
            });
            if kind == EntryKind::Directory {
                self.walk(&name, &key, &entry_matched)?;
            }
        }
        Ok(())
    }
}

/// Writes the tar of `plan` into `writer`, then the Dockerfile, and flushes.
fn write_context(
    spec: &ContextSpec,
    plan: &ContextPlan,
    writer: ChunkWriter,
) -> Result<(), BuildError> {
    let mut builder = tar::Builder::new(writer);
    let result = write_entries(spec, plan, &mut builder);
    if result.is_err() {
        // Keeps the builder's drop from finishing the tar as if it were complete.
        builder.get_mut().abandon();
        return result;
    }
    // Finishing and flushing only write, and writing only fails once the receiver is gone.
    let closed = || BuildError::ContextStreamClosed {
        context: spec.context_dir.clone(),
    };
    let mut writer = builder.into_inner().map_err(|_| closed())?;
    writer.flush().map_err(|_| closed())
}

fn write_entries(
    spec: &ContextSpec,
    plan: &ContextPlan,
    builder: &mut tar::Builder<ChunkWriter>,
) -> Result<(), BuildError> {
    let classify = |builder: &tar::Builder<ChunkWriter>, path: &Path, source: io::Error| {
        if builder.get_ref().receiver_gone() {
            BuildError::ContextStreamClosed {
                context: spec.context_dir.clone(),
            }
        } else {
            read_error(path)(source)
        }
    };
    for entry in &plan.entries {
        let path = spec.context_dir.join(&entry.name);
        if let Err(source) = append_entry(builder, entry, &path, &plan.dockerignore) {
            return Err(classify(builder, &path, source));
        }
    }
    if plan.dockerignore_source == DockerignoreSource::Generated {
        let path = spec.context_dir.join(DOCKERIGNORE);
        if let Err(source) = append_added_file(builder, Path::new(DOCKERIGNORE), &plan.dockerignore)
        {
            return Err(classify(builder, &path, source));
        }
    }
    let path = spec.context_dir.join(&spec.dockerfile_name);
    if let Err(source) = append_added_file(
        builder,
        Path::new(&spec.dockerfile_name),
        spec.dockerfile_text.as_bytes(),
    ) {
        return Err(classify(builder, &path, source));
    }
    Ok(())
}

/// A header with the metadata common to every entry: mode, mtime, uid/gid 0.
fn entry_header(entry_type: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size);
    header
}

fn append_entry(
    builder: &mut tar::Builder<ChunkWriter>,
    entry: &PlannedEntry,
    path: &Path,
    dockerignore: &[u8],
) -> io::Result<()> {
    match entry.kind {
        EntryKind::Directory => {
            let mut header = entry_header(tar::EntryType::Directory, entry.mode, entry.mtime, 0);
            let mut name = entry.name.clone().into_os_string();
            name.push("/");
            builder.append_data(&mut header, Path::new(&name), io::empty())
        }
        EntryKind::Symlink => {
            let target = fs::read_link(path)?;
            let mut header = entry_header(tar::EntryType::Symlink, entry.mode, entry.mtime, 0);
            builder.append_link(&mut header, &entry.name, target)
        }
        EntryKind::File { size } => {
            let file = File::open(path)?;
            let mut header = entry_header(tar::EntryType::Regular, entry.mode, entry.mtime, size);
            builder.append_data(
                &mut header,
                &entry.name,
                SizedFileReader {
                    file,
                    remaining: size,
                },
            )
        }
        EntryKind::Dockerignore => {
            let mut header = entry_header(
                tar::EntryType::Regular,
                entry.mode,
                entry.mtime,
                dockerignore.len() as u64,
            );
            builder.append_data(&mut header, &entry.name, dockerignore)
        }
    }
}

/// Appends a file that is not in the context folder (the Dockerfile, a generated
/// `.dockerignore`): mode 0644, mtime 0 so the tar only depends on the inputs.
fn append_added_file(
    builder: &mut tar::Builder<ChunkWriter>,
    name: &Path,
    content: &[u8],
) -> io::Result<()> {
    let mut header = entry_header(
        tar::EntryType::Regular,
        ADDED_FILE_MODE,
        0,
        content.len() as u64,
    );
    builder.append_data(&mut header, name, content)
}

/// Reads exactly the size a file had when it was listed, failing if it changed meanwhile (a
/// tar entry's size is written before its content).
struct SizedFileReader {
    file: File,
    remaining: u64,
}

impl Read for SizedFileReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.file.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other("the file grew while it was read")),
            };
        }
        let limit = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        let read = self.file.read(&mut buffer[..limit])?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

/// Whether a [`ChunkWriter`] still sends what it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriterState {
    Open,
    /// The receiver was dropped: every write fails.
    ReceiverGone,
    /// The tar failed: further writes (the tar builder finishing on drop) are refused.
    Abandoned,
}

/// A [`Write`] that sends what it is given as [`Bytes`] chunks of [`CHUNK_SIZE`] over a
/// bounded channel, waiting while the channel is full (so only for blocking threads).
struct ChunkWriter {
    sender: mpsc::Sender<Result<Bytes, io::Error>>,
    buffer: Vec<u8>,
    state: WriterState,
}

impl ChunkWriter {
    fn new(sender: mpsc::Sender<Result<Bytes, io::Error>>) -> Self {
        ChunkWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK_SIZE),
            state: WriterState::Open,
        }
    }

    fn receiver_gone(&self) -> bool {
        self.state == WriterState::ReceiverGone
    }

    fn abandon(&mut self) {
        if self.state == WriterState::Open {
            self.state = WriterState::Abandoned;
        }
    }

    fn check_open(&self) -> io::Result<()> {
        match self.state {
            WriterState::Open => Ok(()),
            WriterState::ReceiverGone => Err(receiver_gone_error()),
            WriterState::Abandoned => Err(io::Error::other("the context tar was abandoned")),
        }
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_SIZE));
        if self.sender.blocking_send(Ok(Bytes::from(chunk))).is_err() {
            self.state = WriterState::ReceiverGone;
            return Err(receiver_gone_error());
        }
        Ok(())
    }
}

fn receiver_gone_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the receiver of the build context stream was dropped",
    )
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        let taken = data.len().min(CHUNK_SIZE - self.buffer.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK_SIZE {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_open()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.send_buffer()
    }
}

/// The patterns of a `.dockerignore` file, with Docker's semantics (the Docker CLI's
/// `dockerignore.ReadAll` and moby's `patternmatcher`):
///
/// - a line starting with `#` is a comment (only in the first column); other lines are trimmed
///   of surrounding whitespace, and empty ones skipped; a UTF-8 BOM is ignored;
/// - `!` starts an exception (whitespace after it is trimmed);
/// - the pattern is cleaned like Go's `filepath.Clean` (`./a/../b//c/` is `b/c`) and a leading
///   `/` dropped, so patterns are always relative to the context root;
/// - matching is against the whole cleaned path relative to the root: `*` matches any run of
///   characters but `/`, `?` one character but `/`, `[a-z]`/`[^a-z]` a character class, `\`
///   escapes the next character, `**` any number of folders (`**/x` matches `x` and `a/b/x`;
///   a trailing `/**` everything below); Docker's quirks are kept (e.g. `**x` with no other
///   wildcard matches any path ending in `x`);
/// - a path is excluded when the last pattern matching it, or one of its parent folders, is
///   not an exception; later lines win;
/// - an excluded folder is still walked when an exception pattern, written out, starts with
///   the folder's path (`!dir/keep` under an excluded `dir`); an exception starting with a
///   wildcard (`!*/keep`) does not re-include anything inside an excluded folder, as in Docker
///   (moby/moby#30018);
/// - `.dockerignore` itself is always sent.
#[derive(Debug, Default)]
struct IgnorePatterns {
    patterns: Vec<IgnorePattern>,
}

#[derive(Debug)]
struct IgnorePattern {
    /// The cleaned pattern, without the `!` of an exception.
    text: String,
    exception: PatternKind,
    matcher: PathMatcher,
}

/// Whether a pattern excludes paths or is an exception (`!`) re-including them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatternKind {
    Exclusion,
    Exception,
}

/// How a pattern is matched (Docker's `matchType`).
#[derive(Debug)]
enum PathMatcher {
    /// The path equals the pattern (no wildcards).
    Exact(String),
    /// The path starts with this (the pattern ended in `**` with no other wildcard).
    Prefix(String),
    /// The path ends with this (the pattern started with `**` with no other wildcard), or the
    /// path equals it without its leading `/`.
    Suffix(String),
    Regex(Regex),
}

impl PathMatcher {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(pattern) => path == pattern,
            PathMatcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            PathMatcher::Regex(regex) => regex.is_match(path),
        }
    }
}

/// For each pattern, whether it matched a folder or one of its parents (Docker's `MatchInfo`);
/// empty when not known.
#[derive(Debug, Clone, Default)]
struct MatchedPatterns(Vec<bool>);

impl IgnorePatterns {
    /// Reads the text of a `.dockerignore` file (`path` is named in errors).
    fn parse(text: &str, path: &Path) -> Result<Self, BuildError> {
        let mut patterns = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let line = line.strip_suffix('\n').unwrap_or(line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let error = |message: String| BuildError::Dockerignore {
                path: path.to_path_buf(),
                line: index + 1,
                message,
            };
            let (kind, rest) = match line.strip_prefix('!') {
                Some(rest) => (PatternKind::Exception, rest.trim()),
                None => (PatternKind::Exclusion, line),
            };
            let mut cleaned = if rest.is_empty() {
                String::new()
            } else {
                let cleaned = clean_path(rest);
                match cleaned.strip_prefix('/') {
                    Some(relative) if !relative.is_empty() => relative.to_string(),
                    _ => cleaned,
                }
            };
            if kind == PatternKind::Exception {
                // Docker cleans the pattern again with its `!`, which only matters for `!/`.
                cleaned = clean_path(&format!("!{cleaned}"))
                    .strip_prefix('!')
                    .unwrap_or_default()
                    .to_string();
                if cleaned.is_empty() {
                    return Err(error("illegal exclusion pattern: \"!\"".to_string()));
                }
            }
            let matcher = compile_pattern(&cleaned).map_err(error)?;
            patterns.push(IgnorePattern {
                text: cleaned,
                exception: kind,
                matcher,
            });
        }
        Ok(IgnorePatterns { patterns })
    }

    /// Adds the exception Docker's CLI adds so that `.dockerignore` is always sent.
    fn keeping_dockerignore(mut self) -> Self {
        if self.matches(DOCKERIGNORE, &MatchedPatterns::default()).0 {
            self.patterns.push(IgnorePattern {
                text: DOCKERIGNORE.to_string(),
                exception: PatternKind::Exception,
                matcher: PathMatcher::Exact(DOCKERIGNORE.to_string()),
            });
        }
        self
    }

    fn has_exceptions(&self) -> bool {
        self.patterns
            .iter()
            .any(|pattern| pattern.exception == PatternKind::Exception)
    }

    /// Whether `path` (relative, cleaned, `/`-separated) is excluded, given which patterns its
    /// folder matched; also returns which patterns `path` matched, for its own entries (Docker's
    /// `MatchesUsingParentResults`).
    fn matches(&self, path: &str, parent: &MatchedPatterns) -> (bool, MatchedPatterns) {
        let mut excluded = false;
        let mut matched = vec![false; self.patterns.len()];
        for (index, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.0.get(index).copied().unwrap_or(false);
            if !hit {
                // Only an exclusion can change an included path, only an exception an
                // excluded one.
                if (pattern.exception == PatternKind::Exception) != excluded {
                    continue;
                }
                hit = pattern.matcher.matches(path);
                if !hit
                    && parent.0.is_empty()
                    && let Some((parent_path, _)) = path.rsplit_once('/')
                {
                    let mut end = 0;
                    for part in parent_path.split('/') {
                        end += part.len();
                        if pattern.matcher.matches(&parent_path[..end]) {
                            hit = true;
                            break;
                        }
                        end += 1;
                    }
                }
            }
            matched[index] = hit;
            if hit {
                excluded = pattern.exception == PatternKind::Exclusion;
            }
        }
        (excluded, MatchedPatterns(matched))
    }

    /// Whether an excluded folder must still be walked because an exception pattern names
    /// something inside it.
    fn may_reinclude_under(&self, folder: &str) -> bool {
        if !self.has_exceptions() {
            return false;
        }
        let folder = format!("{folder}/");
        self.patterns.iter().any(|pattern| {
            pattern.exception == PatternKind::Exception
                && format!("{}/", pattern.text).starts_with(&folder)
        })
    }
}

/// Go's `path.Clean`: the shortest equivalent path, lexically.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// How a pattern compiles so far (Docker's `matchType` while compiling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompiledKind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// Compiles a cleaned pattern the way moby's `patternmatcher` does, checking its syntax like
/// Go's `filepath.Match` (errors are lower-case messages).
fn compile_pattern(pattern: &str) -> Result<PathMatcher, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut regex = String::from("(?s)^");
    let mut kind = CompiledKind::Exact;
    let mut index = 0;
    let mut first_token = true;
    while index < chars.len() {
        let ch = chars[index];
        index += 1;
        match ch {
            '*' if chars.get(index) == Some(&'*') => {
                index += 1;
                // `**/` is the same as `**`.
                if chars.get(index) == Some(&'/') {
                    index += 1;
                }
                if index == chars.len() {
                    if kind == CompiledKind::Exact {
                        kind = CompiledKind::Prefix;
                    } else {
                        regex.push_str(".*");
                        kind = CompiledKind::Regex;
                    }
                } else {
                    regex.push_str("(?:.*/)?");
                    kind = CompiledKind::Regex;
                }
                if first_token {
                    kind = CompiledKind::Suffix;
                }
            }
            '*' => {
                regex.push_str("[^/]*");
                kind = CompiledKind::Regex;
            }
            '?' => {
                regex.push_str("[^/]");
                kind = CompiledKind::Regex;
            }
            '\\' => {
                let Some(&escaped) = chars.get(index) else {
                    return Err("a pattern cannot end with an escaping backslash".to_string());
                };
                index += 1;
                regex.push_str(&regex::escape(&escaped.to_string()));
                kind = CompiledKind::Regex;
            }
            '[' => {
                let (class, next) = character_class(&chars, index)?;
                index = next;
                regex.push_str(&class);
                kind = CompiledKind::Regex;
            }
            other => regex.push_str(&regex::escape(&other.to_string())),
        }
        first_token = false;
    }
    Ok(match kind {
        CompiledKind::Exact => PathMatcher::Exact(pattern.to_string()),
        CompiledKind::Prefix => {
            PathMatcher::Prefix(pattern.strip_suffix("**").unwrap_or(pattern).to_string())
        }
        CompiledKind::Suffix => {
            PathMatcher::Suffix(pattern.strip_prefix("**").unwrap_or(pattern).to_string())
        }
        CompiledKind::Regex => {
            regex.push('$');
            PathMatcher::Regex(Regex::new(&regex).map_err(|error| error.to_string())?)
        }
    })
}

/// Reads a character class whose `[` is just before `start` (Go's `filepath.Match` syntax:
/// `[^...]` negates, `a-z` ranges, `\` escapes, at least one item); returns it as a regex
/// class and the index after its `]`.
fn character_class(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut index = start;
    let mut class = String::from("[");
    if chars.get(index) == Some(&'^') {
        class.push('^');
        index += 1;
    }
    let mut items = 0;
    loop {
        if chars.get(index) == Some(&']') && items > 0 {
            index += 1;
            break;
        }
        let (low, next) = class_char(chars, index)?;
        index = next;
        let mut high = low;
        if chars.get(index) == Some(&'-') {
            let (end, next) = class_char(chars, index + 1)?;
            high = end;
            index = next;
        }
        if low > high {
            return Err(format!("character range {low}-{high} is reversed"));
        }
        class.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", low as u32, high as u32));
        items += 1;
    }
    class.push(']');
    Ok((class, index))
}

/// One character of a class (Go's `getEsc`), which must be followed by more of the pattern.
fn class_char(chars: &[char], index: usize) -> Result<(char, usize), String> {
    let unclosed = || "unclosed or empty character class".to_string();
    let mut index = index;
    let mut ch = *chars.get(index).ok_or_else(unclosed)?;
    if ch == '-' || ch == ']' {
        return Err(format!("unexpected {ch} in character class"));
    }
    if ch == '\\' {
        index += 1;
        ch = *chars.get(index).ok_or_else(unclosed)?;
    }
    index += 1;
    if index >= chars.len() {
        return Err(unclosed());
    }
    Ok((ch, index))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::Duration;

    use super::*;

    const DOCKERFILE_NAME: &str = ".mab-dockerfile-0123";
    const DOCKERFILE_TEXT: &str = "FROM sha256:abc\n";

    // --- pattern matching -------------------------------------------------------------------

    fn patterns(text: &str) -> IgnorePatterns {
        match IgnorePatterns::parse(text, Path::new(".dockerignore")) {
            Ok(patterns) => patterns,
            Err(error) => panic!("{error}"),
        }
    }

    fn pattern_error(text: &str) -> (usize, String) {
        match IgnorePatterns::parse(text, Path::new(".dockerignore")) {
            Ok(patterns) => panic!("expected an error, got {patterns:?}"),
            Err(BuildError::Dockerignore { line, message, .. }) => (line, message),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    /// Docker's `MatchesOrParentMatches`: excluded, looking at the path and its parents.
    fn excluded(text: &str, path: &str) -> bool {
        patterns(text).matches(path, &MatchedPatterns::default()).0
    }

    fn texts(text: &str) -> Vec<String> {
        patterns(text)
            .patterns
            .into_iter()
            .map(|p| p.text)
            .collect()
    }

    #[test]
    fn pattern_lines_are_cleaned() {
        assert_eq!(
            texts(
                "\u{feff}/a\n./b/\nc/../d\n  e  \r\n\n#comment\n  # not a comment\n! /f\n//g//h\n"
            ),
            vec!["a", "b", "d", "e", "# not a comment", "f", "g/h"]
        );
    }

    #[test]
    fn exception_needs_a_pattern() {
        assert_eq!(pattern_error("a\n!\n").0, 2);
        assert_eq!(pattern_error("!  \n").0, 1);
    }

    #[test]
    fn invalid_patterns_are_errors() {
        assert_eq!(pattern_error("ok\n[\n").0, 2);
        pattern_error("a\\");
        pattern_error("[]a]");
        pattern_error("[-a]");
        pattern_error("[a-]");
        pattern_error("[a");
        pattern_error("[z-a]");
    }

    #[test]
    fn exact_and_single_star() {
        assert!(excluded("foo", "foo"));
        assert!(!excluded("foo", "foobar"));
        assert!(excluded("*.go", "a.go"));
        assert!(!excluded("*.go", "dir/a.go"));
        assert!(excluded("dir/*.go", "dir/a.go"));
        assert!(!excluded("dir/*.go", "dir/sub/a.go"));
        assert!(excluded("*", "anything"));
        assert!(
            excluded("*", "dir/below"),
            "a matching parent excludes its contents"
        );
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(excluded("a?c", "abc"));
        assert!(!excluded("a?c", "a/c"));
        assert!(excluded("[a-c]x", "bx"));
        assert!(!excluded("[a-c]x", "dx"));
        assert!(excluded("[^a]x", "bx"));
        assert!(!excluded("[^a]x", "ax"));
        assert!(excluded("[\\]]", "]"));
        assert!(excluded("\\*x", "*x"));
        assert!(!excluded("\\*x", "ax"));
        assert!(excluded("a.b", "a.b"));
        assert!(!excluded("a.b", "axb"));
        assert!(excluded("a+(b)|{c}$", "a+(b)|{c}$"));
    }

    #[test]
    fn double_star() {
        assert!(excluded("**", "a"));
        assert!(excluded("**", "a/b/c"));
        assert!(excluded("**/foo", "foo"));
        assert!(excluded("**/foo", "a/b/foo"));
        assert!(!excluded("**/foo", "afoo"));
        assert!(excluded("**/*.go", "a.go"));
        assert!(excluded("**/*.go", "x/y/a.go"));
        assert!(excluded("a/**/b", "a/b"));
        assert!(excluded("a/**/b", "a/x/y/b"));
        assert!(!excluded("a/**/b", "a/xb"));
        assert!(excluded("dir/**", "dir/a"));
        assert!(excluded("dir/**", "dir/a/b"));
        assert!(!excluded("dir/**", "dir"));
        assert!(!excluded("dir/**", "dirx"));
        assert!(excluded("foo**", "foobar/x"));
        assert!(excluded("a*/**", "ab/c"));
        // Docker's quirk: `**x` without other wildcards is a plain suffix.
        assert!(excluded("**foo", "afoo"));
        assert!(excluded("**foo", "a/bfoo"));
    }

    #[test]
    fn exceptions_and_order() {
        let text = "*.md\n!README.md\n";
        assert!(excluded(text, "a.md"));
        assert!(!excluded(text, "README.md"));
        assert!(excluded("!a\na\n", "a"), "later lines win");
        assert!(!excluded("a\n!a\n", "a"));
        assert!(excluded("*\n!keep\nkeep\n", "keep"));
    }

    #[test]
    fn parent_results_are_inherited() {
        let patterns = patterns("docs\n!docs/keep\n");
        let (docs_excluded, docs) = patterns.matches("docs", &MatchedPatterns::default());
        assert!(docs_excluded);
        assert!(patterns.may_reinclude_under("docs"));
        assert!(!patterns.may_reinclude_under("doc"));
        let (keep_excluded, keep) = patterns.matches("docs/keep", &docs);
        assert!(!keep_excluded);
        assert!(patterns.matches("docs/other", &docs).0);
        assert!(!patterns.matches("docs/keep/file", &keep).0);
    }

    #[test]
    fn wildcard_exceptions_do_not_reach_into_excluded_folders() {
        // As in Docker (moby/moby#30018): nothing starts with `dir/`, so `dir` is not walked.
        let patterns = patterns("dir\n!*/keep\n");
        assert!(!patterns.may_reinclude_under("dir"));
        // But a written-out folder with a wildcard below it is.
        let patterns = IgnorePatterns::parse("dir\n!dir/*.txt\n", Path::new("x"));
        assert!(patterns.is_ok_and(|p| p.may_reinclude_under("dir")));
    }

    #[test]
    fn dockerignore_is_kept() {
        let kept = patterns("*\n").keeping_dockerignore();
        assert!(!kept.matches(".dockerignore", &MatchedPatterns::default()).0);
        assert!(kept.matches("other", &MatchedPatterns::default()).0);
        assert_eq!(patterns("a\n").keeping_dockerignore().patterns.len(), 1);
    }

    #[test]
    fn clean_path_like_go() {
        for (input, cleaned) in [
            ("", "."),
            (".", "."),
            ("a/./b", "a/b"),
            ("a/../..", ".."),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a//b/", "a/b"),
        ] {
            assert_eq!(clean_path(input), cleaned, "{input}");
        }
    }

    #[test]
    fn dockerfile_names() {
        assert!(check_dockerfile_name(".mab/Dockerfile.1").is_ok());
        for bad in ["", "/abs", "a//b", "a/./b", "../x", "a/", DOCKERIGNORE] {
            assert!(check_dockerfile_name(bad).is_err(), "{bad}");
        }
    }

    // --- the tar stream ----------------------------------------------------------------------

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

    async fn collect(
        stream: ContextStream,
    ) -> (Result<Vec<u8>, io::Error>, Result<(), BuildError>) {
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

    #[tokio::test]
    async fn dockerignore_exclusions() {
        let files = [
            "a.log",
            "src/main.rs",
            "src/debug.log",
            "target/x",
            "README.md",
        ];
        assert_eq!(
            sent("*.log\ntarget\n", &files).await,
            vec!["README.md", "src/", "src/debug.log", "src/main.rs"]
        );
        assert_eq!(
            sent("**/*.log\n/target/\n", &files).await,
            vec!["README.md", "src/", "src/main.rs"]
        );
        assert_eq!(
            sent("# a comment\n\n   \n#*.md\n", &files).await,
            vec![
                "README.md",
                "a.log",
                "src/",
                "src/debug.log",
                "src/main.rs",
                "target/",
                "target/x"
            ]
        );
    }

    #[tokio::test]
    async fn dockerignore_exception_inside_excluded_folder() {
        let files = [
            "docs/a.md",
            "docs/keep/b.md",
            "docs/keep/c/d.md",
            "docs/z.md",
            "x",
        ];
        // The excluded folder's own entry is not sent, as with Docker.
        assert_eq!(
            sent("docs\n!docs/keep\n", &files).await,
            vec![
                "docs/keep/",
                "docs/keep/b.md",
                "docs/keep/c/",
                "docs/keep/c/d.md",
                "x"
            ]
        );
        assert_eq!(
            sent("docs\n!docs/*.md\ndocs/z.md\n", &files).await,
            vec!["docs/a.md", "x"]
        );
        assert_eq!(
            sent("*\n!docs/keep/c\n", &files).await,
            vec!["docs/keep/c/", "docs/keep/c/d.md"]
        );
        // A wildcard exception does not reach inside an excluded folder (as in Docker).
        assert_eq!(sent("docs\n!*/a.md\n", &files).await, vec!["x"]);
    }

    #[tokio::test]
    async fn dockerignore_double_star_suffix_under_folder() {
        let files = [
            "a/node_modules/x",
            "node_modules/y",
            "b/c/node_modules/z",
            "b/keep",
        ];
        assert_eq!(
            sent("**/node_modules\n", &files).await,
            vec!["a/", "b/", "b/c/", "b/keep"]
        );
        assert_eq!(
            sent("b/**\n", &files).await,
            vec![
                "a/",
                "a/node_modules/",
                "a/node_modules/x",
                "b/",
                "node_modules/",
                "node_modules/y"
            ]
        );
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

        let (sender, mut receiver) = mpsc::channel(CHANNEL_CHUNKS);
        let writer = tokio::task::spawn_blocking(move || {
            write_context(&spec, &plan, ChunkWriter::new(sender))
        });
        while receiver.recv().await.is_some() {}
        let result = writer.await.expect("writer task");
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
        let (sender, mut receiver) = mpsc::channel(CHANNEL_CHUNKS);
        let writer = tokio::task::spawn_blocking(move || {
            write_context(&spec, &plan, ChunkWriter::new(sender))
        });
        while receiver.recv().await.is_some() {}
        let result = writer.await.expect("writer task");
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
    fn chunk_writer_sends_full_chunks_then_the_rest() {
        let (sender, mut receiver) = mpsc::channel(16);
        let mut writer = ChunkWriter::new(sender);
        writer
            .write_all(&vec![7u8; CHUNK_SIZE * 2 + 10])
            .expect("write");
        writer.flush().expect("flush");
        drop(writer);
        let mut sizes = Vec::new();
        while let Ok(chunk) = receiver.try_recv() {
            sizes.push(chunk.expect("chunk").len());
        }
        assert_eq!(sizes, vec![CHUNK_SIZE, CHUNK_SIZE, 10]);
    }

    #[test]
    fn chunk_writer_fails_once_the_receiver_is_gone() {
        let (sender, receiver) = mpsc::channel(1);
        drop(receiver);
        let mut writer = ChunkWriter::new(sender);
        let result = writer.write_all(&vec![0u8; CHUNK_SIZE]);
        assert_eq!(
            result.map_err(|error| error.kind()),
            Err(io::ErrorKind::BrokenPipe)
        );
        assert!(writer.receiver_gone());
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
}
