//! Named sites in a transcript: estates, roads, villages, schools, companies, projects, and
//! the district of a city outside the gazetteer (`长沙市雨花区`, `A市A5区`).
//!
//! Two callers about "the restaurant under our building" are the same matter only when they
//! live in the same estate. The gazetteer knows districts and streets; estates and businesses
//! come and go too fast for any list, so they are found by their suffix and a name before it.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Suffixes that end the name of a concrete place or entity, longest first so `小学` wins
/// over `学`-less matches and `新村` over `村`.
const SUFFIXES: &[&str] = &[
    "幼儿园", "小区", "花园", "家园", "公寓", "大厦", "广场", "新城", "新村", "社区", "学校", "小学", "中学", "大学", "学院", "医院",
    "市场", "商场", "公司", "工地", "项目", "大道", "大街", "苑", "村", "路", "街", "厂",
];

/// A name never reaches back past these: they end a clause or a higher-level place
/// (`A5区魅力之城小区` is the estate `魅力之城小区`).
const BOUNDARY_CHARS: &[char] = &[
    '在', '住', '的', '是', '了', '我', '们', '和', '与', '及', '到', '从', '对', '于', '个', '该', '这', '那', '位', '区', '市', '县', '镇', '省',
    '买', '向', '给', '被', '把', '有', '原', '称', '家', '某', '下', '上', '临', '沿', '旁', '边', '近', '附', '条',
];

/// Words that end in a suffix but name no particular place.
const GENERIC: &[&str] = &[
    "道路", "马路", "公路", "出路", "线路", "思路", "网路", "铁路", "小路", "门路", "电路", "回路", "水路", "这条路", "那条路", "农村", "乡村",
    "本村", "该村", "全村", "各村", "两村", "街道", "上街", "逛街", "沿街", "临街", "大街", "商业街", "步行街", "物业公司", "开发公司",
    "公司", "该公司", "本公司", "子公司", "分公司", "有限公司", "保险公司", "开发商公司", "学校", "医院", "市场", "工地", "项目", "小区", "该小区",
    "本小区", "社区", "该社区", "本社区", "大学", "工厂", "厂", "电厂", "花园", "广场", "公寓",
];

/// Endings that make a word no place at all, whatever comes before: `确定线路`, `没跑路`.
const NOT_A_PLACE_ENDINGS: &[&str] = &["线路", "跑路", "思路", "出路", "电路", "回路", "网路", "门路", "套路", "活路", "退路", "销路", "走路", "让路", "带路", "领路"];

static NAME_BEFORE_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    let suffixes = SUFFIXES.join("|");
    Regex::new(&format!(r"[\p{{Han}}A-Za-z0-9]{{1,8}}?(?:{suffixes})")).expect("site pattern")
});

/// `长沙市雨花区`, `A市A5区`, `某市某县`: a district is only trusted right after a city name,
/// because `小区`, `社区`, `园区` and `辖区` end in 区 as well.
static CITY_DISTRICT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[A-Z]|\p{Han}{2,4})市([A-Z][0-9]{1,2}|\p{Han}{2,3}?)([区县])").expect("district pattern"));

/// Where a case is, as far as its text says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sites {
    /// A district named after its city (`A5区`, `雨花区`): for cities the gazetteer does not cover.
    pub district: Option<String>,
    /// Estates, roads, villages, schools, companies, projects.
    pub names: Vec<String>,
}

/// Where a name found before its ending starts: after the last `boundary` character in
/// `text[name]`, then past any of `not_starts` it begins with. Byte offset into `text`.
pub fn name_start(text: &str, name: std::ops::Range<usize>, boundary: &[char], not_starts: &[&str]) -> usize {
    let mut start = match text[name.clone()].char_indices().rfind(|(_, c)| boundary.contains(c)) {
        Some((i, c)) => name.start + i + c.len_utf8(),
        None => name.start,
    };
    while let Some(w) = not_starts.iter().find(|w| text[start..name.end].starts_with(**w)) {
        start += w.len();
    }
    start
}

/// Find the sites a transcript names, each once, in order of first mention.
pub fn find_sites(text: &str) -> Sites {
    let district = CITY_DISTRICT.captures(text).map(|c| format!("{}{}", &c[1], &c[2]));
    let mut names: Vec<String> = Vec::new();
    // Scan suffix by suffix from every start so a lazy prefix cannot swallow a whole clause:
    // the regex finds the shortest name ending in a suffix, then the name is cut back to the
    // last boundary character.
    let mut start = 0;
    while let Some(m) = NAME_BEFORE_SUFFIX.find_at(text, start) {
        start = m.end();
        let found = m.as_str();
        let Some(suffix) = SUFFIXES.iter().filter(|s| found.ends_with(**s)).max_by_key(|s| s.len()) else { continue };
        // Cut back to the last boundary before the suffix (the suffix itself may hold one: 小区).
        let name = &found[name_start(found, 0..found.len() - suffix.len(), BOUNDARY_CHARS, &[])..];
        let core_chars = name.chars().count() - suffix.chars().count();
        if core_chars < 2 || GENERIC.contains(&name) || NOT_A_PLACE_ENDINGS.iter().any(|e| name.ends_with(e)) || names.iter().any(|n| n == name) {
            continue;
        }
        names.push(name.to_string());
        if names.len() == 12 {
            break;
        }
    }
    Sites { district, names }
}

/// The distinctive part of a name: without its suffix.
fn core(name: &str) -> &str {
    SUFFIXES.iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name)
}

/// Do two names share a run of at least two characters in their cores? Callers slip
/// (`伊景园滨河苑` / `滨河苑`, `金麓` / `金路`), so whole-name equality is too strict.
fn names_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (core(a), core(b));
    let chars: Vec<char> = a.chars().collect();
    chars.windows(2).any(|w| {
        let pair: String = w.iter().collect();
        b.contains(&pair)
    })
}

impl Sites {
    /// False only when both cases name places and none of them can be the same: different
    /// districts, or named sites that share nothing. Silence is never a conflict.
    pub fn agree(&self, other: &Sites) -> bool {
        if let (Some(a), Some(b)) = (&self.district, &other.district) {
            if a != b {
                return false;
            }
        }
        if self.names.is_empty() || other.names.is_empty() {
            return true;
        }
        self.names.iter().any(|a| other.names.iter().any(|b| names_overlap(a, b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estates_roads_and_businesses_are_named_without_the_clause_before_them() {
        let s = find_sites("我住在A市A5区魅力之城小区，楼下临街餐饮店油烟扰民。联丰路米兰春天G2栋的一米阳光婚纱摄影，在伊景园滨河苑捆绑销售车位");
        assert_eq!(s.district.as_deref(), Some("A5区"));
        assert_eq!(s.names, vec!["魅力之城小区", "联丰路", "伊景园滨河苑"], "{s:?}");
        assert_eq!(find_sites("长沙市雨花区东塘街道").district.as_deref(), Some("雨花区"));
        assert!(find_sites("这条路坑坑洼洼，小区里没有路灯，物业公司不管").names.is_empty());
        assert!(find_sites("有人说58车贷没跑路，初步确定线路").names.is_empty());
        assert_eq!(find_sites("朝阳区望京西园三区的建筑工地夜间施工").district, None, "区 without a city before it is left to the gazetteer");
    }

    #[test]
    fn silence_agrees_and_different_places_conflict() {
        let a = find_sites("A市A5区魅力之城小区楼下餐馆油烟");
        let b = find_sites("魅力之城小区的油烟问题还没解决");
        let c = find_sites("A市A5区丽发新城小区旁边的搅拌站");
        let d = find_sites("楼下饭店油烟太大了");
        assert!(a.agree(&b));
        assert!(!a.agree(&c), "same district, different estates");
        assert!(a.agree(&d) && d.agree(&c), "a case that names no place conflicts with none");
        assert!(!find_sites("A市A3区").agree(&find_sites("A市A5区")));
        assert!(find_sites("伊景园滨河苑车位").agree(&find_sites("广铁集团伊景园小区车位捆绑")), "a shared core is enough");
    }
}
