//! `weir gen-model`: a random-weight Qwen2 model directory of a given shape
//! (for benchmarks).

use std::path::PathBuf;

use clap::Args;

#[derive(Args)]
pub struct GenModelArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// `demo`, `qwen2-0.5b` or `llama-3.2-1b` (that model's shapes in the
    /// Qwen2 layout).
    #[arg(long, default_value = "qwen2-0.5b")]
    shape: String,
    /// Seed of the weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `weir gen-model`.
pub fn run(args: GenModelArgs) -> Result<(), String> {
    let shape = match args.shape.as_str() {
        "demo" => weir::model::demo::Qwen2Shape::demo(),
        "qwen2-0.5b" => weir::model::demo::Qwen2Shape::qwen2_0_5b(),
        "llama-3.2-1b" => weir::model::demo::Qwen2Shape::llama_3_2_1b(),
        other => {
            return Err(format!(
                "unknown --shape `{other}` (demo, qwen2-0.5b, llama-3.2-1b)"
            ))
        }
    };
    weir::model::demo::write_random_qwen2(&args.out, &shape, args.seed)
        .map_err(|e| e.to_string())?;
    println!("wrote {}", args.out.display());
    Ok(())
}
