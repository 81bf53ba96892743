//! `fuzz-seeds DIR`: writes each fuzz target's seed inputs (`rectify_server::fuzzing::seeds`)
//! into `DIR/<target>/`, the corpus `cargo xtask fuzz` starts libFuzzer from.

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: fuzz-seeds DIR"))?;
    for (name, _) in rectify_server::fuzzing::TARGETS {
        let target = std::path::Path::new(&dir).join(name);
        std::fs::create_dir_all(&target)?;
        for (n, seed) in rectify_server::fuzzing::seeds(name).iter().enumerate() {
            std::fs::write(target.join(format!("seed-{n}")), seed)?;
        }
    }
    Ok(())
}
