//! Deterministic gzip members: one block, no name, no timestamp; stored when it does not
//! compress.

/// One block as a complete gzip member: deflated, or stored when a sample shows it does not
/// compress. No name, no timestamp: the same block always gives the same bytes.
pub(super) fn gzip_member(block: &[u8]) -> std::io::Result<Vec<u8>> {
    const SAMPLE: usize = 16 * 1024;
    let sample = &block[..block.len().min(SAMPLE)];
    if sample.len() >= 4096 && deflated_size(sample)? * 100 > sample.len() * 97 {
        return Ok(stored_gzip_member(block));
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(block.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut encoder, block)?;
    encoder.finish()
}

/// A gzip member holding `block` in stored deflate blocks (RFC 1951 3.2.4): the bytes as they
/// are, framed, at the speed of a copy (a deflater's stored mode still walks its matcher).
pub(super) fn stored_gzip_member(block: &[u8]) -> Vec<u8> {
    const MAX_STORED: usize = u16::MAX as usize;
    // RFC 1952: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let blocks = block.len().div_ceil(MAX_STORED).max(1);
    let mut out = Vec::with_capacity(HEADER.len() + block.len() + blocks * 5 + 8);
    out.extend_from_slice(&HEADER);
    let mut pieces = block.chunks(MAX_STORED).peekable();
    if pieces.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let len = piece.len() as u16;
        out.push(u8::from(last)); // BFINAL, BTYPE 00 (stored), padded to the byte
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out.extend_from_slice(&crc32fast::hash(block).to_le_bytes());
    out.extend_from_slice(&(block.len() as u32).to_le_bytes());
    out
}

fn deflated_size(data: &[u8]) -> std::io::Result<usize> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, data)?;
    Ok(encoder.finish()?.len())
}
