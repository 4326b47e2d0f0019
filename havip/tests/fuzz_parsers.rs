//! The parser fuzz targets (`havip::fuzzing`, the functions cargo-fuzz runs from `fuzz/`), bounded
//! for the unit tier on the stable toolchain: every input of the committed corpus
//! (`fuzz/corpus/<target>/`), then mutations of it drawn from a fixed seed for a few seconds per
//! target. A panic, or an input that takes more than [`SLOW`], fails the test; the input is
//! written to `target/fuzz-failures/` so that `cargo fuzz run <target> <file>` replays it.
//! `HAVIP_FUZZ_SECONDS` sets the budget per target, `HAVIP_FUZZ_SEED` the seed.
//! The coverage-guided run is `cargo xtask fuzz-parsers` (docs/fuzzing.md).

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Mutations run for this long per target (the corpus always runs whole).
const BUDGET: Duration = Duration::from_secs(3);
/// One input of at most [`MAX_LEN`] bytes must take less than this, in a debug build on a busy
/// machine: the parsers are linear, so anything near it is a super-linear path (a hang).
const SLOW: Duration = Duration::from_secs(2);
/// Mutants grow to at most this many bytes.
const MAX_LEN: usize = 16 * 1024;
const SEED: u64 = 0x6861_7669_7066_757a;

/// xorshift64*: a fixed sequence from a seed, so a failure replays from the seed alone.
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

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading the corpus {}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy();
            (format!("corpus {target}/{name}"), bytes)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 5,
        "{}: the corpus is missing or nearly empty",
        dir.display()
    );
    out
}

/// Tokens worth inserting whole: what a byte-level mutation rarely spells.
fn dictionary(target: &str) -> &'static [&'static [u8]] {
    match target {
        "keepalived_conf" => &[
            b"{",
            b"}",
            b"\n",
            b" ",
            b"\"",
            b"#",
            b"!",
            b"include ",
            b"include *\n",
            b"@fuzz ",
            b"@^fuzz ",
            b"@other ",
            b"vrrp_instance VI {\n",
            b"virtual_ipaddress {\n",
            b"vrrp_script s {\n",
            b"global_defs {\n",
            b"vrrp_sync_group G {\n",
            b"group {\n",
            b"track_script {\n",
            b"track_interface {\n",
            b"authentication {\n",
            b"auth_pass ",
            b"virtual_router_id ",
            b"priority ",
            b"advert_int ",
            b"unicast_peer {\n",
            b"state MASTER\n",
            b"interface eth0\n",
            b"10.0.0.1/24",
            b"fe80::1",
            b"dev ",
            b"label ",
            b"weight -",
            b"$X=1\n",
            b"~SEQ(",
            b"4294967296",
            b"-1",
            b"0.001",
        ],
        "toml" => &[
            b"[[instance]]\n",
            b"[defaults]\n",
            b"[[script]]\n",
            b"[[sync_group]]\n",
            b" = ",
            b"\"",
            b"'''",
            b"\"\"\"",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b"\n",
            b"name = \"A\"\n",
            b"vrid = ",
            b"vips = [",
            b"interface = \"eth0\"\n",
            b"version = 3\n",
            b"advert_interval = ",
            b"1e400",
            b"-9223372036854775808",
            b"0.01",
            b"nan",
            b"inf",
            b"track_scripts = [{ script = \"s\" }]",
            b"garp = { master_delay = ",
            b"notify = { master = \"/x\" }",
            b"static = true\n",
            b"instances = [\"A\"]",
        ],
        "cli" => &[
            b"\0",
            b"run",
            b"--iface",
            b"--vip",
            b"--config",
            b"--format",
            b"--advert-int",
            b"--vrid",
            b"--priority",
            b"--vrrp-version",
            b"--auth-pass",
            b"--unicast-peer",
            b"--preempt-delay",
            b"--xdp-mode",
            b"--state",
            b"--",
            b"-v",
            b"-h",
            b"help",
            b"check-config",
            b"stats",
            b"doctor",
            b"probe",
            b"=",
            b"\xff",
            b"10.0.0.1/24",
            b"fd00::1/64",
            b"0.01",
            b"40.96",
            b"256",
        ],
        _ => &[
            b"\x45\x00",
            b"\x60\x00\x00\x00",
            b"\x08\x06",
            b"\x86\xdd",
            b"\x08\x00",
            b"\x70",
            b"\xff",
            b"\x21",
            b"\x31",
            b"\x88",
            b"\x87",
            b"\xa1\xb2\xc3\xd4",
            b"\xd4\xc3\xb2\xa1",
            b"\x00\x00\x00\x00",
        ],
    }
}

/// One to eight byte-level or token mutations of a corpus input, sometimes spliced with another.
fn mutate(rng: &mut Rng, inputs: &[(String, Vec<u8>)], dict: &[&[u8]]) -> Vec<u8> {
    let mut d = inputs[rng.below(inputs.len())].1.clone();
    for _ in 0..1 + rng.below(8) {
        let len = d.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = [0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b' '][rng.below(8)];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                d[i] = rng.next() as u8;
            }
            3 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(at..at, bytes);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                d.drain(at..at + n);
            }
            5 if len > 0 => {
                // A chunk repeated: nesting, long lists, repeated headers.
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                let chunk = d[at..at + n].to_vec();
                let to = rng.below(len + 1);
                for _ in 0..1 + rng.below(8) {
                    d.splice(to..to, chunk.iter().copied());
                }
            }
            6 => {
                let other = &inputs[rng.below(inputs.len())].1;
                let from = rng.below(other.len() + 1);
                let to = rng.below(len + 1);
                d.truncate(to);
                d.extend_from_slice(&other[from..]);
            }
            7 if len > 0 => d.truncate(rng.below(len)),
            _ => {
                let tok = dict[rng.below(dict.len())];
                let at = rng.below(len + 1);
                d.splice(at..at, tok.iter().copied());
            }
        }
    }
    d.truncate(MAX_LEN);
    d
}

/// Runs `f` on `input`; a panic or a slow input fails the test, saving the input.
fn check(target: &str, f: fn(&[u8]), label: &str, input: &[u8]) {
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| f(input)));
    let took = start.elapsed();
    let problem = match result {
        Err(_) => format!("panicked (message above) on {label}"),
        Ok(()) if took > SLOW => format!("took {took:?} on {label} ({} bytes)", input.len()),
        Ok(()) => return,
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{target}-{}", label.replace(['/', ' '], "_")));
    let _ = std::fs::write(&file, input);
    panic!(
        "fuzz target {target} {problem}; input saved to {} (replay: cargo +nightly fuzz run \
         --fuzz-dir fuzz -s none -a {target} {}; fix the parser, then add the file to fuzz/corpus/{target}/)",
        file.display(),
        file.display()
    );
}

fn run(target: &str) {
    let f = havip::fuzzing::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of havip::fuzzing")
        .1;
    let inputs = corpus(target);
    for (path, bytes) in &inputs {
        check(target, f, path, bytes);
    }
    let seed = std::env::var("HAVIP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let budget = std::env::var("HAVIP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(BUDGET, Duration::from_secs_f64);
    let mut rng = Rng(seed ^ target.len() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let dict = dictionary(target);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        let input = mutate(&mut rng, &inputs, dict);
        check(target, f, &format!("seed {seed} mutant {n}"), &input);
        n += 1;
    }
    eprintln!(
        "fuzz target {target}: {} corpus inputs and {n} mutants (seed {seed}) in {:.1?}, no panic",
        inputs.len(),
        start.elapsed()
    );
    assert!(n > 0, "no mutant ran within {budget:?}");
}

#[test]
fn wire_decoders_never_panic_and_round_trip() {
    run("wire");
}

#[test]
fn keepalived_conf_reader_never_panics_or_hangs() {
    run("keepalived_conf");
}

#[test]
fn toml_reader_never_panics_or_hangs() {
    run("toml");
}

#[test]
fn cli_parser_never_panics() {
    run("cli");
}
