//! The fuzz targets (`rectify_server::fuzzing`, run for long by `cargo xtask fuzz`) on every
//! input that ever crashed one (`fuzz/regressions/<target>/`), on their seeds, and on a few
//! hundred mutations of the seeds from a fixed random sequence, so a quick, repeatable slice
//! of the fuzzing runs on every `cargo xtask test`.

use rectify_server::fuzzing::{TARGETS, seeds};
use rectify_tests::proxy::Rng;
use std::path::Path;

const MUTATIONS: usize = 300;

fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (
                name,
                std::fs::read(e.path()).expect("a regression input reads"),
            )
        })
        .collect()
}

/// One to four random edits: flip bits, overwrite, insert, delete, repeat, truncate.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.range(1, 5) {
        let len = out.len() as u64;
        let at = rng.range(0, len.max(1)) as usize;
        let last = out.len().saturating_sub(1);
        match rng.range(0, 6) {
            0 if !out.is_empty() => out[at.min(last)] ^= 1 << rng.range(0, 8),
            1 if !out.is_empty() => out[at.min(last)] = rng.next_u64() as u8,
            2 => {
                let byte = [0u8, 0x7f, 0x80, 0xff, rng.next_u64() as u8][rng.range(0, 5) as usize];
                out.insert(at.min(out.len()), byte);
            }
            3 if !out.is_empty() => {
                let end = (at + rng.range(1, 16) as usize).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 if !out.is_empty() => {
                let end = (at + rng.range(1, 32) as usize).min(out.len());
                let piece = out[at.min(end)..end].to_vec();
                out.splice(at..at, piece);
            }
            _ => out.truncate(at),
        }
    }
    out
}

#[test]
fn every_target_survives_its_regressions_seeds_and_mutations() {
    for &(name, target) in TARGETS {
        for (file, input) in regressions(name) {
            eprintln!("{name}: regression {file}");
            target(&input);
        }
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "{name} has seeds");
        for seed in &seeds {
            target(seed);
        }
        let mut rng = Rng::new(name.len() as u64);
        for n in 0..MUTATIONS {
            let input = mutate(&mut rng, &seeds[n % seeds.len()]);
            let result = std::panic::catch_unwind(|| target(&input));
            if result.is_err() {
                let path = std::env::temp_dir().join(format!("rectify-fuzz-{name}-{n}"));
                std::fs::write(&path, &input).expect("writing the crashing input");
                panic!(
                    "{name} crashed on mutation {n}; the input is in {} (copy it to fuzz/regressions/{name}/)",
                    path.display()
                );
            }
        }
    }
}
