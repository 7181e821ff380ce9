//! Turning a transcript into a dispatch suggestion: topic and department heads, the
//! taxonomy's priors and duties, jurisdiction, urgency and appeal type.
//!
//! - [`taxonomy`]: topics, departments and the alias table, as data;
//! - [`ranking`]: how the evidence is mixed into one ranked list;
//! - [`urgency`]: danger-now rules.

pub mod error;
pub mod evidence;
pub mod precedents;
pub mod ranking;
pub mod taxonomy;
pub mod ticket;
pub mod urgency;

use evidence::Evidence;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::DispatchError;
pub use taxonomy::{AliasTable, Department, Taxonomy, Topic, DEFAULT_ALIASES, DEFAULT_TAXONOMY};

use crate::model::head::ClassifierHead;
use crate::model::lexical::terms;
use crate::model::{Encoder, EncoderOptions, ModelFolder};
use crate::text::{Gazetteer, Keyword, TextPipeline};
use crate::training::recipe_options;
pub use ranking::Weights;
use urgency::HandoffLine;

pub const DEFAULT_HEADS_DIR: &str = "models/heads";
/// The heads of a dispatch model, as sub-folders of the heads directory.
pub const TOPIC_HEAD: &str = "topic";
pub const DEPARTMENT_HEAD: &str = "department";
pub const APPEAL_HEAD: &str = "appeal_type";
/// Optional: labels `urgent` / `routine`, learned from the transcripts, backing up the rules.
pub const URGENCY_HEAD: &str = "urgency";
/// Optional: labels `110` / `119` / `120` / `none`, learned from urgent transcripts: the line for
/// an emergency that no rule names.
pub const HANDOFF_HEAD: &str = "handoff";
/// Optional: the matter a ticket names (油烟扰民), learned from the hand-filled ticket sets: the
/// summary's matter where the call says none of the list's words.
pub const MATTER_HEAD: &str = "matter";

/// Appeal types and their Chinese names, as the hotline uses them.
pub const APPEAL_TYPES: &[(&str, &str)] =
    &[("consultation", "咨询"), ("complaint", "投诉"), ("report", "举报"), ("help", "求助"), ("suggestion", "建议"), ("praise", "表扬")];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoredTopic {
    pub id: String,
    pub name: String,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoredDepartment {
    pub id: String,
    pub name: String,
    pub score: f32,
    /// Why: the words that pushed it up, the duties they match, the topic behind it.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dispatch {
    pub department: String,
    pub department_name: String,
    pub district: Option<String>,
    pub street: Option<String>,
    pub confidence: f32,
    pub needs_review: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppealType {
    pub id: String,
    pub name: String,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelVersions {
    pub encoder: String,
    pub heads: String,
    pub taxonomy: String,
}

/// The full answer for one transcript: what `triage classify` prints and the API returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DispatchSuggestion {
    pub topics: Vec<ScoredTopic>,
    pub departments: Vec<ScoredDepartment>,
    pub dispatch: Dispatch,
    pub urgent: bool,
    pub urgency_reasons: Vec<String>,
    /// On an urgent call, the emergency line to hand it to at once (110, 119 or 120), if any.
    pub handoff: Option<urgency::Handoff>,
    pub appeal_type: Option<AppealType>,
    pub keywords: Vec<Keyword>,
    /// The ticket's fields, filled in from the call (智能填单).
    pub ticket: ticket::Ticket,
    pub model: ModelVersions,
}

/// A suggestion with the embedding it was made from and the masked text it read.
#[derive(Debug, Clone)]
pub struct EmbeddedSuggestion {
    pub suggestion: DispatchSuggestion,
    pub embedding: Vec<f32>,
    /// Normalised and PII-masked: the only form that may be stored.
    pub text: String,
    pub sites: crate::text::sites::Sites,
}

pub struct DispatchModel {
    pub taxonomy: Taxonomy,
    topic: ClassifierHead,
    department: ClassifierHead,
    appeal: Option<ClassifierHead>,
    urgency: Option<ClassifierHead>,
    handoff: Option<ClassifierHead>,
    matter: Option<ClassifierHead>,
    encoder: Encoder,
    pipeline: std::sync::Arc<TextPipeline>,
    gazetteer: Gazetteer,
    weights: Weights,
    versions: ModelVersions,
}

/// Where a dispatch model's parts live.
#[derive(Debug, Clone)]
pub struct DispatchPaths {
    pub heads_dir: PathBuf,
    pub taxonomy: PathBuf,
    pub dict_dir: PathBuf,
    pub gazetteer: PathBuf,
}

fn head_label(feature: &str) -> String {
    let body = feature.get(2..).unwrap_or(feature);
    body.replace('|', "")
}

impl DispatchModel {
    pub fn load(folder: &ModelFolder, base: &EncoderOptions, paths: &DispatchPaths) -> Result<Self, DispatchError> {
        let taxonomy = Taxonomy::load(&paths.taxonomy)?;
        let topic = ClassifierHead::load(&paths.heads_dir.join(TOPIC_HEAD))?;
        let department = ClassifierHead::load(&paths.heads_dir.join(DEPARTMENT_HEAD))?;
        // An optional head is absent when its folder is; a folder that is there must load.
        let optional = |name: &str| -> Result<Option<ClassifierHead>, DispatchError> {
            let dir = paths.heads_dir.join(name);
            Ok(if dir.is_dir() { Some(ClassifierHead::load(&dir)?) } else { None })
        };
        let appeal = optional(APPEAL_HEAD)?;
        let urgency = optional(URGENCY_HEAD)?;
        let handoff = optional(HANDOFF_HEAD)?;
        let matter = optional(MATTER_HEAD)?;
        let check_labels = |head: &ClassifierHead, known: &dyn Fn(&str) -> bool, what: &str| -> Result<(), DispatchError> {
            match head.meta.labels.iter().find(|l| !known(l)) {
                Some(l) => Err(DispatchError::invalid(&head.dir, format!("predicts {what} {l:?}, which {} does not define", paths.taxonomy.display()))),
                None => Ok(()),
            }
        };
        check_labels(&topic, &|l| taxonomy.topic(l).is_some(), "topic")?;
        check_labels(&department, &|l| taxonomy.department(l).is_some(), "department")?;
        if let Some(a) = &appeal {
            check_labels(a, &|l| APPEAL_TYPES.iter().any(|(id, _)| *id == l), "appeal type")?;
        }
        if let Some(u) = &urgency {
            check_labels(u, &|l| l == "urgent" || l == "routine", "urgency label")?;
        }
        if let Some(h) = &handoff {
            check_labels(h, &|l| l == "none" || HandoffLine::parse(l).is_some(), "hand-off line")?;
        }
        if let Some(m) = &matter {
            check_labels(m, &ticket::matters::is_listed, "matter")?;
        }
        let heads: Vec<&ClassifierHead> = [Some(&topic), Some(&department), appeal.as_ref(), urgency.as_ref(), handoff.as_ref(), matter.as_ref()].into_iter().flatten().collect();
        let recipe = department.meta.recipe.clone();
        for h in &heads {
            if h.meta.recipe != recipe {
                return Err(DispatchError::invalid(&h.dir, "was trained with a different embedding recipe from the department head"));
            }
            if h.dim() > 0 && h.meta.recipe.encoder_checksum != folder.checksum() {
                return Err(DispatchError::invalid(
                    &h.dir,
                    format!("was trained on encoder {}, but {} holds encoder {}", h.meta.recipe.encoder_checksum, folder.dir.display(), folder.checksum()),
                ));
            }
        }
        let encoder = Encoder::load(folder, recipe_options(base, recipe.max_tokens, recipe.max_windows))?;
        let pipeline = std::sync::Arc::new(TextPipeline::from_dict_dir(&paths.dict_dir)?);
        let gazetteer = Gazetteer::load(&paths.gazetteer)?;
        let versions = ModelVersions {
            encoder: folder.checksum(),
            heads: heads.iter().map(|h| format!("{}@{}", h.meta.name, h.meta.training["date_unix"])).collect::<Vec<_>>().join(","),
            taxonomy: format!("{} {}", taxonomy.name, taxonomy.version),
        };
        Ok(DispatchModel { taxonomy, topic, department, appeal, urgency, handoff, matter, encoder, pipeline, gazetteer, weights: Weights::default(), versions })
    }

    /// Replace the evidence weights (from the `[ranking]` section of the configuration).
    pub fn with_weights(mut self, weights: Weights) -> Self {
        self.weights = weights;
        self
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Classify several transcripts; they share encoder batches.
    pub fn classify_batch(&self, raws: &[&str], top_k: usize) -> Result<Vec<DispatchSuggestion>, DispatchError> {
        Ok(self.classify_batch_embedded(raws, top_k)?.into_iter().map(|e| e.suggestion).collect())
    }

    /// As [`Self::classify_batch`], with what storing a case needs: the embedding (for
    /// similar and related cases), the masked text and the sites it names.
    pub fn classify_batch_embedded(&self, raws: &[&str], top_k: usize) -> Result<Vec<EmbeddedSuggestion>, DispatchError> {
        let prepared: Vec<_> = raws.iter().map(|r| self.pipeline.prepare(r)).collect();
        // Every head shares the department head's recipe (checked at load).
        let caller_turns = self.department.meta.recipe.caller_turns;
        let views: Vec<_> = prepared.iter().map(|p| p.encoder_text(caller_turns)).collect();
        let texts: Vec<&str> = views.iter().map(|v| v.as_ref()).collect();
        let embeddings = self.encoder.embed(&texts)?;
        Ok(prepared
            .into_iter()
            .zip(embeddings)
            .map(|(p, e)| {
                let text = p.text.clone();
                let sites = crate::text::sites::find_sites(&text);
                EmbeddedSuggestion { suggestion: self.suggest(p, &e.vector, top_k.max(1)), embedding: e.vector, text, sites }
            })
            .collect())
    }

    /// The text pipeline the model reads with (normalisation and PII masking for storage).
    /// The encoder, heads and taxonomy versions every answer carries.
    pub fn versions(&self) -> &ModelVersions {
        &self.versions
    }

    pub fn pipeline(&self) -> &std::sync::Arc<TextPipeline> {
        &self.pipeline
    }

    pub fn classify(&self, raw: &str, top_k: usize) -> Result<DispatchSuggestion, DispatchError> {
        Ok(self.classify_batch(&[raw], top_k)?.remove(0))
    }

    /// The words the department head weighs for `department` that also stand out in this
    /// transcript (its TF-IDF keywords, which leave out function words and boilerplate).
    fn head_reason(&self, department: &str, dept_lex: &crate::model::lexical::SparseVector, keywords: &[crate::text::Keyword]) -> Option<String> {
        let k = self.department.meta.labels.iter().position(|l| l == department)?;
        let mut words: Vec<String> = Vec::new();
        let salient = |w: &str| keywords.iter().any(|k| k.word == w);
        for (f, _) in self.department.lexical_reasons(dept_lex, k, 60).into_iter().filter(|(f, _)| f.starts_with("w:")) {
            let w = head_label(&f);
            if !salient(&w) {
                continue;
            }
            if w.chars().count() >= 2 && !words.iter().any(|x| x.contains(&w) || w.contains(x.as_str())) {
                words.push(w);
            }
            if words.len() == 4 {
                break;
            }
        }
        (!words.is_empty()).then(|| format!("关键词: {}", words.join("、")))
    }

    fn suggest(&self, p: crate::text::PreparedTranscript, embedding: &[f32], top_k: usize) -> DispatchSuggestion {
        let t = terms(&p.tokens, &p.text);
        let tax = &self.taxonomy;

        let topic_lex = self.topic.vocabulary.transform(&t);
        let topic_pred = self.topic.predict(embedding, &topic_lex);
        let mut topics: Vec<ScoredTopic> = self
            .topic
            .meta
            .labels
            .iter()
            .zip(&topic_pred.probs)
            .map(|(id, &score)| ScoredTopic { id: id.clone(), name: tax.topic(id).map(|t| t.name.clone()).unwrap_or_default(), score })
            .collect();
        topics.sort_by(|a, b| b.score.total_cmp(&a.score));

        let dept_lex = self.department.vocabulary.transform(&t);
        let dept_pred = self.department.predict(embedding, &dept_lex);
        let mut head = vec![0f32; tax.departments.len()];
        for (label, p) in self.department.meta.labels.iter().zip(&dept_pred.probs) {
            if let Some(i) = tax.departments.iter().position(|d| &d.id == label) {
                head[i] = *p;
            }
        }
        let topic_probs: Vec<(String, f32)> = topics.iter().map(|t| (t.id.clone(), t.score)).collect();
        let prior = ranking::topic_prior(tax, &topic_probs);
        let (duties, hits) = ranking::duty_matches(tax, &p.text);
        // The topic the prior's reason names is the final one, known only after the ranking.
        let final_topic: std::cell::OnceCell<(String, f32)> = std::cell::OnceCell::new();
        let (scores, departments) = {
            let w = &self.weights;
            let units = [
                Evidence::new("department_head", w.department_head, head, |i| self.head_reason(&tax.departments[i].id, &dept_lex, &p.keywords)),
                Evidence::new("topic_prior", w.topic_prior, prior.clone(), |i| {
                    let (id, score) = final_topic.get()?;
                    let topic = tax.topic(id).filter(|t| prior[i] > 0.0 && t.departments.contains(&tax.departments[i].id))?;
                    Some(format!("话题: {} {:.2}", topic.name, score))
                }),
                Evidence::new("duties", w.duties, duties, |i| (!hits[i].is_empty()).then(|| format!("职责匹配: {}", hits[i].join("、")))),
            ];
            let scores = evidence::compose(&units);
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));

            // The final topics lean on the ranked departments: a call routed to 燃气集团 is about
            // utilities whatever words the topic head keyed on.
            let implied = ranking::department_topics(tax, &scores, &topic_probs);
            let share = w.topic_from_departments.clamp(0.0, 1.0);
            for t in topics.iter_mut() {
                if let Some(i) = tax.topics.iter().position(|x| x.id == t.id) {
                    t.score = (1.0 - share) * t.score + share * implied[i];
                }
            }
            topics.sort_by(|a, b| b.score.total_cmp(&a.score));
            if let Some(top) = topics.first() {
                let _ = final_topic.set((top.id.clone(), top.score));
            }
            // Reasons in the order an operator reads them: the words, the duties, the topic.
            let reading_order = [0, 2, 1];
            let departments: Vec<ScoredDepartment> = order
                .iter()
                .take(top_k)
                .enumerate()
                .filter(|&(rank, &i)| rank == 0 || scores[i] >= w.min_score)
                .map(|(_, &i)| {
                    let d = &tax.departments[i];
                    let reasons = reading_order.iter().filter_map(|&u| units[u].reason(i)).collect();
                    ScoredDepartment { id: d.id.clone(), name: d.name.clone(), score: scores[i], reasons }
                })
                .collect();
            (scores, departments)
        };
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));

        let best = order[0];
        let second = order.get(1).map(|&i| scores[i]).unwrap_or(0.0);
        // The head's review policy, applied to the final ranking it is part of.
        let review = self.department.meta.review;
        let needs_review = scores[best] < review.min_confidence || scores[best] - second < review.min_margin;
        let location = self.gazetteer.locate(&p.text);
        let mut urgency = urgency::assess(&p.text);
        // Rules first; the learned head catches emergencies worded in ways no rule lists.
        if let Some(h) = &self.urgency {
            let pred = h.predict(embedding, &h.vocabulary.transform(&t));
            if let Some(k) = h.meta.labels.iter().position(|l| l == "urgent") {
                if pred.probs[k] >= 0.5 && !urgency.urgent && !urgency.settled {
                    urgency.flag(format!("模型判断紧急 {:.2}", pred.probs[k]));
                }
            }
        }
        if urgency.urgent && urgency.handoff.is_none() && !urgency.no_line {
            // No rule named the line. The learned head reads the matter (a man waving a knife in
            // a restaurant is 110, whoever regulates restaurants); where it sees none, the line
            // follows the department the call goes to (`emergency_line` in the taxonomy).
            let learned = self.handoff.as_ref().and_then(|h| HandoffLine::parse(h.best_label(embedding, &t).0));
            if let Some(line) = learned.or(tax.departments[best].emergency_line) {
                urgency.hand_to(line);
            }
        }
        let appeal_type = self.appeal.as_ref().map(|h| {
            let (id, score) = h.best_label(embedding, &t);
            let name = APPEAL_TYPES.iter().find(|(i, _)| *i == id).map(|(_, n)| n.to_string()).unwrap_or_default();
            AppealType { id: id.to_string(), name, score }
        });
        topics.truncate(top_k);
        let learned = self.matter.as_ref().map(|h| {
            let (name, score) = h.best_label(embedding, &t);
            ticket::LearnedMatter { name: name.to_string(), score }
        });
        let ticket = ticket::fill(&p.text, &p.turns, &location, &p.pii, &p.keywords, appeal_type.as_ref().map(|a| a.id.as_str()), learned.as_ref());
        DispatchSuggestion {
            topics,
            departments,
            dispatch: Dispatch {
                department: tax.departments[best].id.clone(),
                department_name: tax.departments[best].name.clone(),
                district: location.district,
                street: location.street,
                confidence: scores[best],
                needs_review,
            },
            urgent: urgency.urgent,
            urgency_reasons: urgency.reasons,
            handoff: urgency.handoff,
            appeal_type,
            keywords: p.keywords,
            ticket,
            model: self.versions.clone(),
        }
    }
}

impl DispatchPaths {
    pub fn defaults(dict_dir: &Path) -> Self {
        DispatchPaths {
            heads_dir: PathBuf::from(DEFAULT_HEADS_DIR),
            taxonomy: PathBuf::from(DEFAULT_TAXONOMY),
            dict_dir: dict_dir.to_path_buf(),
            gazetteer: PathBuf::from(crate::text::DEFAULT_GAZETTEER),
        }
    }
}
