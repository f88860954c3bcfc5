//! A streaming reader of tar headers: fed the bytes of an uncompressed layer in chunks of any
//! size, it tells a visitor where each entry starts, hands it the contents it asks for, and
//! where the entry ends. No entry is held in memory (only GNU long names and pax headers, up to
//! 64 KiB, to learn the next entry's name). Every scanner of a layer (mab's SBOM scanner here,
//! the platform lint's ELF scanner in `mab-registry`) walks the tar with it.

/// Longest GNU long name / pax header read.
const MAX_META: u64 = 64 * 1024;

/// One entry of the tar, as its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path, without a leading `./` or `/`.
    pub path: String,
    /// How many bytes of content follow.
    pub size: u64,
    /// Whether it is a regular file.
    pub regular: bool,
}

/// Receives the entries of a tar.
pub trait Visitor {
    /// An entry starts; returns whether its content is wanted.
    fn start(&mut self, entry: &Entry) -> bool;
    /// The next bytes of the content of the entry started last (only when it was wanted).
    fn content(&mut self, data: &[u8]);
    /// The entry started last (and wanted) is complete.
    fn end(&mut self);
}

enum State {
    Header,
    Content {
        remaining: u64,
        padding: u64,
        wanted: bool,
        meta: Option<(bool, Vec<u8>)>,
    },
    Padding(u64),
}

/// Walks a tar stream fed in chunks, for a [`Visitor`].
pub struct TarWalker<V> {
    state: State,
    header: Vec<u8>,
    next_name: Option<String>,
    /// The visitor, with what it gathered.
    pub visitor: V,
}

impl<V: Visitor> TarWalker<V> {
    /// A walker at the start of a tar.
    pub fn new(visitor: V) -> Self {
        Self {
            state: State::Header,
            header: Vec::with_capacity(512),
            next_name: None,
            visitor,
        }
    }

    /// Feeds the next bytes of the tar stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Header => {
                    let take = (512 - self.header.len()).min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.header.len() == 512 {
                        let header = std::mem::take(&mut self.header);
                        self.start_entry(&header);
                        self.header = header;
                        self.header.clear();
                    }
                }
                State::Content {
                    remaining,
                    padding,
                    wanted,
                    meta,
                } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    match meta {
                        Some((_, bytes)) => bytes.extend_from_slice(&data[..take]),
                        None if *wanted => self.visitor.content(&data[..take]),
                        None => {}
                    }
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        let padding = *padding;
                        let wanted = *wanted;
                        let meta = meta.take();
                        self.end_entry(wanted, meta);
                        self.state = State::Padding(padding);
                    }
                }
                State::Padding(remaining) => {
                    let take = (*remaining).min(data.len() as u64);
                    *remaining -= take;
                    data = &data[take as usize..];
                    if *remaining == 0 {
                        self.state = State::Header;
                    }
                }
            }
        }
    }

    fn start_entry(&mut self, header: &[u8]) {
        if header.iter().all(|&b| b == 0) {
            return; // end-of-archive blocks
        }
        let size = parse_size(&header[124..136]);
        let padding = (512 - size % 512) % 512;
        let typeflag = header[156];
        let name = match self.next_name.take() {
            Some(name) => name,
            None => {
                let name = c_string(&header[0..100]);
                let prefix = if &header[257..262] == b"ustar" {
                    c_string(&header[345..500])
                } else {
                    String::new()
                };
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            }
        };
        let meta = match typeflag {
            b'L' if size <= MAX_META => Some((false, Vec::new())),
            b'x' if size <= MAX_META => Some((true, Vec::new())),
            _ => None,
        };
        let wanted = meta.is_none() && {
            let entry = Entry {
                path: name
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .to_string(),
                size,
                regular: matches!(typeflag, b'0' | 0 | b'7'),
            };
            typeflag != b'L' && typeflag != b'x' && typeflag != b'g' && self.visitor.start(&entry)
        };
        self.state = if size == 0 {
            self.end_entry(wanted, meta);
            State::Header
        } else {
            State::Content {
                remaining: size,
                padding,
                wanted,
                meta,
            }
        };
    }

    fn end_entry(&mut self, wanted: bool, meta: Option<(bool, Vec<u8>)>) {
        match meta {
            Some((false, data)) => self.next_name = Some(c_string(&data)),
            Some((true, data)) => self.next_name = pax_path(&data),
            None if wanted => self.visitor.end(),
            None => {}
        }
    }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A tar size field: octal text, or base-256 when the high bit is set.
fn parse_size(field: &[u8]) -> u64 {
    if field[0] & 0x80 != 0 {
        return field[1..].iter().fold(0u64, |n, &b| {
            n.saturating_mul(256).saturating_add(u64::from(b))
        });
    }
    let text = c_string(field);
    u64::from_str_radix(text.trim(), 8).unwrap_or(0)
}

/// The `path` record of a pax extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|record| {
        let (_, key_value) = record.split_once(' ')?;
        key_value.strip_prefix("path=").map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        entries: Vec<(Entry, Vec<u8>)>,
        open: Option<(Entry, Vec<u8>)>,
    }

    impl Visitor for Collect {
        fn start(&mut self, entry: &Entry) -> bool {
            self.open = Some((entry.clone(), Vec::new()));
            !entry.path.ends_with(".skip")
        }
        fn content(&mut self, data: &[u8]) {
            self.open.as_mut().unwrap().1.extend_from_slice(data);
        }
        fn end(&mut self) {
            self.entries.push(self.open.take().unwrap());
        }
    }

    #[test]
    fn hands_each_wanted_entry_whole_whatever_the_chunking() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, data).unwrap();
        };
        add("etc/os-release", b"ID=debian\n");
        add("a.skip", &[7u8; 1000]);
        let long = format!("usr/{}/file", "long".repeat(40));
        add(&long, &[1u8; 513]);
        add("empty", b"");
        let tar = builder.into_inner().unwrap();
        for chunk in [1, 511, 512, 513, 4096, tar.len()] {
            let mut walker = TarWalker::new(Collect::default());
            for piece in tar.chunks(chunk) {
                walker.feed(piece);
            }
            let found: Vec<(String, usize)> = walker
                .visitor
                .entries
                .iter()
                .map(|(e, data)| (e.path.clone(), data.len()))
                .collect();
            assert_eq!(
                found,
                vec![
                    ("etc/os-release".to_string(), 10),
                    (long.clone(), 513),
                    ("empty".to_string(), 0)
                ],
                "chunk {chunk}"
            );
        }
    }
}
