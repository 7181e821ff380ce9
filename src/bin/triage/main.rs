//! `triage`: the command-line face of hotline-triage. This file reads the command line and the
//! configuration and hands over to `commands/`; the flags themselves are in `args.rs`.

mod args;
mod commands;

use anyhow::Result;
use clap::Parser;

use hotline_triage::config::Settings;

use args::{CasesCommand, Cli, Command, DuplicatesCommand, EventsCommand, FeedbackCommand, GlobalArgs};

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
    if let Some(v) = &g.adapter {
        s.adapter = Some(v.clone());
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

fn run(cli: Cli) -> Result<()> {
    let mut settings = settings(&cli.global)?;
    init_threads(&settings);
    match cli.command {
        Command::Model(command) => commands::model::run(settings, command),
        Command::Segment { top_k } => commands::classify::segment(&settings, top_k),
        Command::Embed { chunk } => commands::classify::embed_stdin(&settings, chunk),
        Command::Classify { text, jsonl, top_k } => commands::classify::classify(&settings, text, jsonl, top_k),
        Command::Dict(command) => commands::train::dict(&settings, command),
        Command::Train(args) => commands::train::train(&settings, args),
        Command::Adapt(args) => commands::train::adapt(&settings, args),
        Command::Eval(args) => commands::train::eval(&settings, args),
        Command::Serve { addr, api_key_file, feedback_db, database_url, webhook_url, nats_url } => {
            if webhook_url.is_some() {
                settings.events.webhook_url = webhook_url;
            }
            if nats_url.is_some() {
                settings.events.nats_url = nats_url;
            }
            commands::serve::serve(settings, addr, api_key_file, feedback_db, database_url)
        }
        Command::Feedback(FeedbackCommand::Export { out, db, only_corrections }) => commands::feedback::export(&settings, &out, db, only_corrections),
        Command::Feedback(FeedbackCommand::Stats { db }) => commands::feedback::stats(&settings, db),
        Command::Batch(args) => commands::batch::batch(&settings, args),
        Command::Hotspots(args) => commands::batch::hotspots(&settings, args),
        Command::Duplicates(DuplicatesCommand::Eval { pairs, source, text_fields, markdown, random_texts }) => {
            commands::cases::duplicates_eval(&settings, &pairs, &source, &text_fields, markdown, random_texts)
        }
        Command::Cases(CasesCommand::Bench { size, queries }) => commands::cases::bench(size, queries),
        Command::Cases(CasesCommand::Import { input, errors, db }) => commands::cases::import(&settings, &input, &errors, db),
        Command::Cases(CasesCommand::EvalHeads { heads, days, db }) => commands::cases::eval_heads(&settings, &heads, days, db),
        Command::Kpis { report, from, to, db } => commands::cases::kpis(&settings, &report, from, to, db),
        Command::Events(EventsCommand::Replay { since, sink, db }) => commands::events::replay(&settings, &since, sink, db),
        Command::Events(EventsCommand::Status { db }) => commands::events::status(&settings, db),
    }
}
