//! The city's topics and departments, as data: `models/taxonomy.toml` for Beijing, or a
//! city's own file passed with `--taxonomy`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::DispatchError;

pub const DEFAULT_TAXONOMY: &str = "models/taxonomy.toml";
pub const DEFAULT_ALIASES: &str = "models/aliases.toml";

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub matters: Vec<String>,
    /// The departments that usually handle this topic, most typical first: the prior that
    /// turns a topic score into department scores.
    pub departments: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// 职责: what the department is responsible for, shown to operators and matched against
    /// transcripts.
    pub duties: String,
    #[serde(default)]
    pub matters: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The emergency line this department's urgent calls go to first ("110", "119", "120"),
    /// when the urgency head, not a rule, found the danger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_line: Option<super::urgency::HandoffLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    pub name: String,
    pub version: String,
    pub topics: Vec<Topic>,
    pub departments: Vec<Department>,
}

impl Taxonomy {
    pub fn load(path: &Path) -> Result<Self, DispatchError> {
        let text = std::fs::read_to_string(path).map_err(|e| DispatchError::Io { path: path.to_path_buf(), source: e })?;
        let taxonomy: Taxonomy = toml::from_str(&text).map_err(|e| DispatchError::invalid(path, e.to_string()))?;
        taxonomy.validate().map_err(|reason| DispatchError::invalid(path, reason))?;
        Ok(taxonomy)
    }

    /// Ids unique and non-empty; every department a topic names exists.
    pub fn validate(&self) -> Result<(), String> {
        if self.topics.is_empty() || self.departments.is_empty() {
            return Err("a taxonomy needs at least one topic and one department".into());
        }
        let mut seen = HashSet::new();
        for d in &self.departments {
            if d.id.trim().is_empty() || !seen.insert(d.id.as_str()) {
                return Err(format!("department id {:?} is empty or repeated", d.id));
            }
        }
        let mut topics = HashSet::new();
        for t in &self.topics {
            if t.id.trim().is_empty() || !topics.insert(t.id.as_str()) {
                return Err(format!("topic id {:?} is empty or repeated", t.id));
            }
            if let Some(unknown) = t.departments.iter().find(|d| !seen.contains(d.as_str())) {
                return Err(format!("topic {} names unknown department {unknown:?}", t.id));
            }
        }
        Ok(())
    }

    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    pub fn topic(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }
}

/// Raw unit names of a city's history mapped to department ids.
#[derive(Debug, Clone, Deserialize)]
pub struct AliasTable {
    pub aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub unmapped: Option<Unmapped>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Unmapped {
    #[serde(default)]
    pub names: Vec<String>,
}

impl AliasTable {
    /// Load and check that every target is a department of `taxonomy`.
    pub fn load(path: &Path, taxonomy: &Taxonomy) -> Result<Self, DispatchError> {
        let text = std::fs::read_to_string(path).map_err(|e| DispatchError::Io { path: path.to_path_buf(), source: e })?;
        let table: AliasTable = toml::from_str(&text).map_err(|e| DispatchError::invalid(path, e.to_string()))?;
        if let Some((raw, id)) = table.aliases.iter().find(|(_, id)| taxonomy.department(id).is_none()) {
            return Err(DispatchError::invalid(path, format!("{raw:?} maps to unknown department {id:?}")));
        }
        Ok(table)
    }

    pub fn resolve(&self, raw: &str) -> Option<&str> {
        self.aliases.get(raw.trim()).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    #[test]
    fn the_shipped_taxonomy_has_the_contracted_ids() {
        let t = Taxonomy::load(&repo(DEFAULT_TAXONOMY)).unwrap();
        let topics: Vec<&str> = t.topics.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(topics.len(), 15);
        for id in ["housing", "urban_management", "environment", "food_safety", "health", "transport", "education", "labor", "public_security", "consumer", "utilities", "civil_affairs", "agriculture_rural", "culture_tourism", "safety_emergency"] {
            assert!(topics.contains(&id), "{id}");
        }
        assert_eq!(t.departments.len(), 25);
        assert_eq!(t.department("gas_group").unwrap().name, "燃气集团");
        assert_eq!(t.department("telecom_administration").unwrap().name, "市通信管理局");
        assert!(t.departments.iter().all(|d| !d.duties.is_empty() && !d.keywords.is_empty()));
        let lines: Vec<(&str, &str)> = t.departments.iter().filter_map(|d| d.emergency_line.map(|l| (d.id.as_str(), l.number()))).collect();
        assert_eq!(lines, [("health_commission", "120"), ("public_security", "110"), ("fire_rescue", "119")]);
        let aliases = AliasTable::load(&repo(DEFAULT_ALIASES), &t).unwrap();
        assert_eq!(aliases.resolve("人力资源和社会保障局"), Some("human_resources_social_security"));
    }

    #[test]
    fn an_unknown_department_in_a_topic_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "name = \"x\"\nversion = \"1\"\n[[topics]]\nid = \"a\"\nname = \"A\"\ndescription = \"d\"\ndepartments = [\"ghost\"]\n[[departments]]\nid = \"real\"\nname = \"R\"\nduties = \"d\"\n",
        )
        .unwrap();
        let err = Taxonomy::load(&path).unwrap_err().to_string();
        assert!(err.contains("ghost") && err.contains("t.toml"), "{err}");
    }
}
