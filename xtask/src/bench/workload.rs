//! What the benchmark builds: the Dockerfiles, their contexts and mab plans.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

/// The small image of the flow, rerun and scale benchmarks. Every build gets a fresh `NONCE`
/// (a build arg used by the first RUN), so the RUN steps really run each time for both tools,
/// while the base stays cached; the first RUN spins a shell loop (real work, slow under QEMU),
/// the second writes DATA_KB KiB of random data (a layer that has to be compressed and sent).
pub const SMALL_DOCKERFILE: &str = r#"# mab bench: a small image doing a little real work (under QEMU for arm64).
ARG BASE
FROM ${BASE}
ARG NONCE
ARG DATA_KB=1024
RUN echo "$NONCE" > /nonce && i=0 && while [ $i -lt 20000 ]; do i=$((i+1)); done && uname -m > /arch
RUN dd if=/dev/urandom of=/data.bin bs=1024 count=${DATA_KB} 2>/dev/null
CMD ["cat", "/arch"]
"#;

/// The 512 MiB image of the push benchmark: FROM scratch, one 256 MiB random layer and one
/// 256 MiB layer of repeated text, made in a build stage so the context stays tiny.
pub const BIG_DOCKERFILE: &str = r#"# mab bench: a 512 MiB image, one random 256 MiB layer, one compressible 256 MiB layer.
ARG BASE
FROM ${BASE} AS gen
RUN head -c 268435456 /dev/urandom > /random.bin
RUN yes 'mab bench: a line of repeated, compressible text for the push benchmark.' | head -c 268435456 > /text.txt
FROM scratch
COPY --from=gen /random.bin /random.bin
COPY --from=gen /text.txt /text.txt
"#;

/// 256 MiB.
pub const HALF: u64 = 256 * 1024 * 1024;

/// Writes a context folder with that Dockerfile.
pub fn context(dir: &Path, dockerfile: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("Dockerfile"), dockerfile)?;
    Ok(())
}

/// One image of a plan.
pub struct Image {
    pub repository: String,
    pub platforms: Vec<&'static str>,
    pub build_args: Vec<(&'static str, String)>,
}

/// A plan (YAML) with these images, all built from `context` (relative to the plan's folder).
pub fn plan(registry: &str, context: &str, images: &[Image]) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "# written by cargo xtask bench");
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "registries:");
    let _ = writeln!(y, "  {}: {{ insecure: true }}", quote(registry));
    let _ = writeln!(y, "images:");
    for i in images {
        let _ = writeln!(y, "  - repository: {}", quote(&i.repository));
        let _ = writeln!(y, "    context: {}", quote(context));
        let _ = writeln!(y, "    platforms: [{}]", i.platforms.join(", "));
        let args: Vec<String> = i
            .build_args
            .iter()
            .map(|(k, v)| format!("{k}: {}", quote(v)))
            .collect();
        let _ = writeln!(y, "    build_args: {{ {} }}", args.join(", "));
    }
    y
}

/// A double-quoted YAML scalar (the values here are plain ASCII; `$` is doubled because mab
/// expands `${VAR}` in plan values).
fn quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "$$")
    )
}
