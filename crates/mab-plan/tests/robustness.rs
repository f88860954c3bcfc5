//! The fuzz target's checks (`mab_plan::fuzzing::check`: no panic, every promise of the result
//! kept) on inputs the fuzzer found, and on a fixed pseudo-random stream of mutations of the
//! fixtures, so that a plain `cargo test` runs them too (`cargo +nightly fuzz run parse_plan`
//! in crates/mab-plan explores further).

use std::path::Path;

use mab_plan::fuzzing::check;

/// Inputs that once broke a check, as the fuzzer found them.
const FOUND: &[&[u8]] = &[
    // A syntax error after lone carriage returns: YAML counts them as line ends, the
    // diagnostic showed the wrong line.
    b".INFrors: 0\n# A tab used for \t\t\t\t\t\t\t\t\t\r\t\t\t\t\t\r\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\t\x0c\t\t\tindenta#  [edg# erro\t\t\t\t?\t\t\t\t\t",
    // A number with a trailing dot as the whole plan: the message ended with a period.
    b"1. ",
];

#[test]
fn inputs_the_fuzzer_found_keep_their_promises() {
    for input in FOUND {
        check(std::str::from_utf8(input).unwrap());
    }
}

/// xorshift64*: a fixed stream, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces of plan syntax that mutations splice in.
const PIECES: &[&str] = &[
    "\n",
    "\r",
    "\t",
    " ",
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "<<: ",
    "${",
    "}",
    "$$",
    "${VERSION}",
    "${GIT_TAG}",
    "${GIT_SHA:-x}",
    "linux/arm64",
    "semver: ",
    "depends_on: [",
    "overrides:\n      linux/amd64: {",
    "annotations: {index: {",
    "latest: true",
    "target: build",
    "name: x",
    "registries: [",
    "repositories: [",
    "defaults:\n  ",
    "secrets: [{id: ",
    "env: ",
    "file: ",
    "ssh: [default, {id: x, paths: [",
    "builder: classic",
    "~",
    "1.2.3",
    "v1.2.3-rc.1",
    "..",
    "/",
    "@",
    "\u{feff}",
    "é",
    "\u{0}",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 if !chars.is_empty() => {
                let end = (at + rng.below(8)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                chars.splice(at..at, piece.chars());
            }
            2 if !chars.is_empty() => {
                let from = rng.below(chars.len());
                let end = (from + rng.below(40)).min(chars.len());
                let copy: Vec<char> = chars[from..end].to_vec();
                chars.splice(at..at, copy);
            }
            _ => {
                let piece = char::from_u32(rng.below(0x80) as u32).unwrap_or(' ');
                chars.insert(at, piece);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_fixtures_keep_the_promises() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seeds = Vec::new();
    for kind in ["valid", "invalid"] {
        for entry in std::fs::read_dir(root.join(kind)).unwrap() {
            seeds.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    seeds.sort();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        let result = std::panic::catch_unwind(|| check(&input));
        assert!(result.is_ok(), "this input broke a check:\n{input:?}");
    }
}
