//! Writes a listed context (see `walk.rs`) as a tar into a [`ChunkWriter`]: each entry with
//! its mode and mtime, owned by uid/gid 0, the `.dockerignore` with the Dockerfile's name added,
//! then the Dockerfile; a file that changed size since it was listed fails the tar rather than
//! corrupting it, and a failed tar is never finished as if complete.
//!
//! It must not know how the folder was walked or what the patterns are, nor where the chunks go.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use super::chunks::ChunkWriter;
use super::walk::{ContextPlan, DockerignoreSource, EntryKind, PlannedEntry, read_error};
use super::{ADDED_FILE_MODE, ContextSpec, DOCKERIGNORE};
use crate::BuildError;

/// Writes the tar of `plan` into `writer`, then the Dockerfile, and flushes.
pub(super) fn write_context(
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
