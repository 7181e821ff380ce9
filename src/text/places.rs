//! Where a call is about: the district and, where named, the street or town, found in the
//! text with a gazetteer of the city's divisions (`models/places/beijing.csv`).
//!
//! Callers say 朝阳 for 朝阳区 and 望京 for 望京街道, so short forms count, with three guards
//! against false hits: the longest name at a position wins (永定门外 is not 永定), short forms
//! of a single character or in a short list of common words are not used, and a handful of
//! known look-alikes elsewhere in China (大兴安岭, 朝阳市) are skipped.
//!
//! Callers also name places by landmark (国贸, 西单, 北京南站) without any division. The
//! gazetteer's `landmark` rows point such a name at the street it lies in, or only at its district
//! where it spans several streets; a district named outright still wins over one a landmark implies.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::error::TextError;
use super::sound::{differing, slip_of, HeardText};

pub const DEFAULT_GAZETTEER: &str = "models/places/beijing.csv";

/// Short forms that are ordinary words more often than places. 河北 is the province callers come
/// from (老家河北, 在河北住院) far more often than 房山's 河北镇, which goes by its full name.
const COMMON_WORDS: &[&str] = &["东风", "城关", "新村", "中心", "工业", "和平", "光明", "胜利", "团结", "友谊", "先锋", "前进", "河北"];
/// Common words that sound like a place name (大型 like 大兴, 评估 like 平谷, 是城镇 like 石城镇); the
/// sound match leaves them alone.
/// Also pieces of common words that sound like a street's short form (市场营销 like 常营, 我市城区
/// like 石城, 长安西路边 like 西潞), found on letters from other cities.
const SOUND_ALIKES: &[&str] = &["是城镇", "戏称", "照样", "长篇", "唱片", "常平", "大型", "大胜", "评估", "禀告", "俸禄", "病故", "评语", "平滑", "宴请", "场营", "市城", "西路"];
/// Look-alike names of places outside the city, checked before the gazetteer.
/// Also words that hold a landmark across a word boundary (美国贸易 is not 国贸, 东西单元 not 西单,
/// 推广内容 not 广内). A footbridge (过街天桥, 人行天桥) is not 天桥街道.
const LOOK_ALIKES: &[&str] = &["大兴安岭", "朝阳市", "朝阳县", "延庆州", "南通市通州", "通州湾", "密云水库", "美国贸", "中国贸", "外国贸", "东西单", "推广", "宽广", "过街天桥", "人行天桥"];

#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub code: String,
    pub name: String,
    pub district: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Location {
    pub district: Option<String>,
    pub street: Option<String>,
    /// The words in the text that named them.
    pub evidence: Vec<String>,
    /// The gazetteer's landmarks the text names (北京西站, 簋街), in the order said, whether or
    /// not they placed it: the ticket's landmark when no ending marks one.
    pub landmarks: Vec<String>,
}

#[derive(Debug, Clone)]
struct Alias {
    place: usize,
    is_district: bool,
    full: bool,
    /// A landmark's name rather than the division's own.
    landmark: bool,
}

#[derive(Debug, Clone)]
pub struct Gazetteer {
    places: Vec<Place>,
    aliases: HashMap<String, Vec<Alias>>,
    max_chars: usize,
    /// Names that may be heard through a speech-to-text slip, longest first, with their
    /// readings: every name of three characters or more, and the districts' short forms. A
    /// street's two-character short form (劲松) is heard only inside a district already found.
    heard: Vec<HeardName>,
}

#[derive(Debug, Clone)]
struct HeardName {
    name: String,
    readings: Vec<Vec<&'static str>>,
    /// Set for a street's two-character short form: the district it must lie in.
    within: Option<String>,
}

/// Readings of a place name: each character's common one, and the place readings that differ
/// from it (朝阳 is chao yang, 马家堡 ma jia pu). Not every reading a dictionary lists: 平谷 read
/// ping yu would sound like 并予.
fn place_readings(name: &str) -> Option<Vec<Vec<&'static str>>> {
    const PLACE_READINGS: &[(char, &str)] = &[('朝', "chao"), ('长', "chang"), ('长', "zhang"), ('堡', "pu"), ('堡', "bu"), ('大', "da")];
    let mut out = super::sound::word_sound(name)?;
    for (c, r) in name.chars().zip(out.iter_mut()) {
        for &(_, a) in PLACE_READINGS.iter().filter(|(p, _)| *p == c) {
            if !r.contains(&a) {
                r.push(a);
            }
        }
    }
    Some(out)
}

/// Whether the character before `range` is one of `before`, or the one after it one of `after`.
fn marked(text: &str, range: std::ops::Range<usize>, before: &[char], after: &[char]) -> bool {
    text[..range.start].chars().next_back().is_some_and(|c| before.contains(&c)) || text[range.end..].chars().next().is_some_and(|c| after.contains(&c))
}

/// Whether a district's short form heard at `range` stands where callers put a place: after 在,
/// 住, 去 and the like, or before 区, 那边, 这边 (言轻 in 人微言轻 is not 延庆).
fn placed(text: &str, range: std::ops::Range<usize>) -> bool {
    marked(text, range, &['在', '住', '是', '去', '到', '来', '京', '从', '回', '市'], &['区', '那', '这', '边', '一', '附', '的', '县', '城'])
}

/// As [`placed`], with only the markers that leave no doubt: 在, 住, 去 ... before, or 区, 那边,
/// 这边 after (not 的: 常青花园的 is no 清华园).
fn firmly_placed(text: &str, range: std::ops::Range<usize>) -> bool {
    marked(text, range, &['在', '住', '去', '到', '从', '回'], &['区', '那', '这', '边', '附'])
}

/// Whether the `n` characters from `at` stand where a caller puts a place, by the sound of the
/// words around them: the markers are misheard too (栽访状 is 在方庄, 扭接那贬 牛街那边).
fn firmly_placed_heard(heard: &HeardText, at: usize, n: usize) -> bool {
    let sound = |i: usize| heard.sound_at(i);
    let before = at.checked_sub(1).and_then(sound).is_some_and(|s| matches!(s, "zai" | "zhu"));
    let after = matches!(sound(at + n), Some("na" | "zhe")) && matches!(sound(at + n + 1), Some("bian" | "kuai" | "er"));
    before || after
}

/// As [`placed`] for a district's short form, by the sound of the words around (a street's short
/// form is too easily heard in other words: 开始清园 is no 清源): [`firmly_placed_heard`]'s
/// markers and more, since an engine mishears the markers as well as the name (施砼州 is 是通州,
/// 房闪瞿 is 房山区, 落丰太 is 落丰台), and an operator's note says 某 after one (通洲某村).
fn placed_heard(heard: &HeardText, at: usize, n: usize) -> bool {
    let sound = |i: usize| heard.sound_at(i);
    let before = at.checked_sub(1).and_then(sound).is_some_and(|s| matches!(s, "shi" | "qu" | "dao" | "cong" | "hui" | "luo"));
    firmly_placed_heard(heard, at, n) || before || matches!(sound(at + n), Some("qu" | "mou"))
}

fn short_form(name: &str) -> Option<&str> {
    // Ethnic townships go by their place name alone (于家务, not 于家务回族).
    let short = ["回族乡", "满族乡", "街道", "地区", "镇", "乡", "区"].iter().find_map(|s| name.strip_suffix(s))?;
    (short.chars().count() >= 2 && !COMMON_WORDS.contains(&short)).then_some(short)
}

impl Gazetteer {
    /// Read `code,name,level,district_code,district` rows (`#` lines are comments). Level is
    /// `district`, `street` or `landmark`; a landmark's code is that of the street or district
    /// it lies in.
    pub fn load(path: &Path) -> Result<Self, TextError> {
        let text = std::fs::read_to_string(path).map_err(|e| TextError::Read { path: path.to_path_buf(), source: e })?;
        let malformed = |i: usize, line: &str, reason: String| TextError::MalformedLine { path: path.to_path_buf(), line: i + 1, content: line.to_string(), reason };
        let mut places = Vec::new();
        let mut levels = Vec::new();
        let mut landmarks = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("code,") {
                continue;
            }
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            if cols.len() != 5 || !matches!(cols[2], "district" | "street" | "landmark") || cols[1].is_empty() {
                return Err(malformed(i, line, "expected code,name,district|street|landmark,district_code,district".into()));
            }
            if cols[2] == "landmark" {
                landmarks.push((i, line, cols[0], cols[1], cols[4]));
                continue;
            }
            places.push(Place { code: cols[0].to_string(), name: cols[1].to_string(), district: cols[4].to_string() });
            levels.push(cols[2] == "district");
        }
        let mut aliases: HashMap<String, Vec<Alias>> = HashMap::new();
        for (i, (p, &is_district)) in places.iter().zip(&levels).enumerate() {
            aliases.entry(p.name.clone()).or_default().push(Alias { place: i, is_district, full: true, landmark: false });
            if let Some(short) = short_form(&p.name) {
                aliases.entry(short.to_string()).or_default().push(Alias { place: i, is_district, full: false, landmark: false });
            }
        }
        for (i, line, code, name, district) in landmarks {
            let Some(place) = places.iter().position(|p| p.code == code) else {
                return Err(malformed(i, line, format!("landmark {name}: no district or street has code {code}")));
            };
            if places[place].district != district {
                return Err(malformed(i, line, format!("landmark {name}: code {code} is in {}, not {district}", places[place].district)));
            }
            aliases.entry(name.to_string()).or_default().push(Alias { place, is_district: levels[place], full: false, landmark: true });
        }
        let max_chars = aliases.keys().map(|k| k.chars().count()).max().unwrap_or(1);
        let mut heard: Vec<HeardName> = aliases
            .iter()
            .filter_map(|(name, found)| {
                let n = name.chars().count();
                let district_short = found.iter().any(|a| a.is_district && !a.landmark);
                let within = match (n, district_short) {
                    (0..=1, _) => return None,
                    (2, true) => None,
                    // A two-character street short form that names one place only.
                    (2, false) if found.len() == 1 && !found[0].landmark => Some(places[found[0].place].district.clone()),
                    (2, false) => return None,
                    _ => None,
                };
                Some(HeardName { name: name.clone(), readings: place_readings(name)?, within })
            })
            .collect();
        heard.sort_by(|a, b| b.readings.len().cmp(&a.readings.len()).then_with(|| a.name.cmp(&b.name)));
        Ok(Gazetteer { places, aliases, max_chars, heard })
    }

    pub fn districts(&self) -> impl Iterator<Item = &Place> {
        self.places.iter().filter(|p| p.name == p.district)
    }

    /// The district and street the text names, if any. What is written wins; where it leaves
    /// the district or the street unknown, names heard through same-sound slips fill them in.
    pub fn locate(&self, text: &str) -> Location {
        let (written, written_outright) = self.locate_written(text);
        if written_outright && written.street.is_some() {
            return written;
        }
        let Some(respelt) = self.respell(text, written.district.as_deref()) else { return written };
        let (heard, heard_outright) = self.locate_written(&respelt);
        match (&written.district, &heard.district) {
            (None, _) => heard,
            // A district heard outright beats one that only a written street implied, as it
            // does when both are written (时景山金顶街 is 石景山, not the 景山 inside it).
            (Some(d), Some(h)) if d != h && heard_outright && !written_outright => heard,
            // Keep the written district; take a heard street only if it lies there.
            (Some(d), Some(h)) if d == h && written.street.is_none() && heard.street.is_some() => Location { street: heard.street, evidence: [written.evidence, heard.evidence].concat(), ..written },
            _ => written,
        }
    }

    /// The text with same-sound slips of place names written as the gazetteer spells them, or
    /// None when nothing was heard.
    ///
    /// An engine swaps a character here and there ([`slip_of`]); where the caller firmly puts a
    /// place (在, 住, 那边 ...) more of the name may be swapped, all but one character of a longer
    /// name (赶家叩这边 is 甘家口), and both of a street's short form in a district already found
    /// (顺义霜枫那边 is 双丰) or of a district's (我住童周 is 通州); the markers may be misheard too.
    /// A street's short form is heard only in a district found or where a place is put (斤松那边
    /// is 劲松).
    fn respell(&self, text: &str, district: Option<&str>) -> Option<String> {
        let heard = HeardText::new(text);
        let hit = |i: usize, h: &HeardName, districts: &[&str]| {
            heard.sounds_like(i, &h.readings) && {
                let n = h.readings.len();
                let range = heard.byte_range(i, n);
                let written = &text[range.clone()];
                let in_district = h.within.as_deref().is_some_and(|d| districts.contains(&d));
                let loose = || {
                    (firmly_placed(text, range.clone()) || firmly_placed_heard(&heard, i, n))
                        && match n {
                            // A district's short form, or a street's inside a district found.
                            2 => (h.within.is_none() || in_district) && differing(written, &h.name) == 2,
                            _ => differing(written, &h.name) < n,
                        }
                };
                (slip_of(written, &h.name) || loose()) && !SOUND_ALIKES.contains(&written) && (n > 2 || in_district || placed(text, range.clone()) || (h.within.is_none() && placed_heard(&heard, i, n)))
            }
        };
        // A district heard in this call also admits its streets' short forms.
        let mut districts: Vec<&str> = district.into_iter().collect();
        for h in self.heard.iter().filter(|h| h.within.is_none() && h.readings.len() == 2) {
            if (0..heard.char_count()).any(|i| hit(i, h, &[])) {
                districts.extend(self.aliases[&h.name].iter().filter(|a| a.is_district).map(|a| self.places[a.place].district.as_str()));
            }
        }
        let mut out = String::with_capacity(text.len());
        let (mut i, mut last, mut changed) = (0, 0, false);
        while i < heard.char_count() {
            match self.heard.iter().find(|h| hit(i, h, &districts)) {
                Some(h) => {
                    let range = heard.byte_range(i, h.readings.len());
                    out.push_str(&text[last..range.start]);
                    out.push_str(&h.name);
                    last = range.end;
                    i += h.readings.len();
                    changed = true;
                }
                None => i += 1,
            }
        }
        out.push_str(&text[last..]);
        changed.then_some(out)
    }

    /// The place the text names as written, and whether its district was named outright (not
    /// only implied by a street or landmark).
    fn locate_written(&self, text: &str) -> (Location, bool) {
        let chars: Vec<char> = text.chars().collect();
        let mut hits: Vec<(&str, &Alias)> = Vec::new();
        let mut i = 0;
        'scan: while i < chars.len() {
            for look in LOOK_ALIKES {
                let n = look.chars().count();
                if i + n <= chars.len() && chars[i..i + n].iter().copied().eq(look.chars()) {
                    i += n;
                    continue 'scan;
                }
            }
            for n in (2..=self.max_chars.min(chars.len() - i)).rev() {
                let candidate: String = chars[i..i + n].iter().collect();
                if let Some((key, found)) = self.aliases.get_key_value(&candidate) {
                    // 海淀 names the district, not 海淀街道 as well.
                    let names_district = found.iter().any(|a| a.is_district && !a.landmark);
                    hits.extend(found.iter().filter(|a| a.is_district || !names_district).map(|a| (key.as_str(), a)));
                    i += n;
                    continue 'scan;
                }
            }
            i += 1;
        }

        // Districts named outright beat districts implied by a street, which beat those implied
        // by a landmark that spans several streets.
        let mut district_votes: Vec<(&str, usize)> = Vec::new();
        for (_, a) in hits.iter().filter(|(_, a)| a.is_district && !a.landmark) {
            let d = self.places[a.place].district.as_str();
            match district_votes.iter_mut().find(|(x, _)| *x == d) {
                Some(v) => v.1 += 1,
                None => district_votes.push((d, 1)),
            }
        }
        // On a tie the district said first wins: callers place themselves before they mention
        // where else they have been.
        let named_district = district_votes.iter().rev().max_by_key(|(_, n)| *n).map(|(d, _)| d.to_string());
        let streets: Vec<&(&str, &Alias)> = hits.iter().filter(|(_, a)| !a.is_district).collect();
        let consistent = |d: &Option<String>| -> Vec<&&(&str, &Alias)> {
            streets.iter().filter(|(_, a)| d.as_ref().is_none_or(|d| self.places[a.place].district == *d)).collect()
        };
        let candidates = consistent(&named_district);
        // A full name beats a short form; an ambiguous short form with no district to settle it names nothing.
        let street = candidates.iter().find(|(_, a)| a.full).or_else(|| {
            let first = candidates.first()?;
            // Places the word could mean, not mentions: a caller who says 望京 twice has not
            // made it ambiguous.
            let mut meanings: Vec<usize> = candidates.iter().filter(|(w, _)| w == &first.0).map(|(_, a)| a.place).collect();
            meanings.sort_unstable();
            meanings.dedup();
            (named_district.is_some() || meanings.len() == 1).then_some(first)
        });
        let mut evidence: Vec<String> = hits.iter().filter(|(_, a)| a.is_district && !a.landmark).map(|(w, _)| w.to_string()).collect();
        let landmark_district = || {
            let (w, a) = hits.iter().find(|(_, a)| a.is_district && a.landmark)?;
            evidence.push(w.to_string());
            Some(self.places[a.place].district.clone())
        };
        let outright = named_district.is_some();
        let district = named_district.or_else(|| street.map(|(_, a)| self.places[a.place].district.clone())).or_else(landmark_district);
        if let Some((w, _)) = street {
            evidence.push(w.to_string());
        }
        evidence.dedup();
        let mut landmarks: Vec<String> = hits.iter().filter(|(_, a)| a.landmark).map(|(w, _)| w.to_string()).collect();
        landmarks.dedup();
        (Location { district, street: street.map(|(_, a)| self.places[a.place].name.clone()), evidence, landmarks }, outright)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gazetteer() -> Gazetteer {
        Gazetteer::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_GAZETTEER)).unwrap()
    }

    fn loc(text: &str) -> (Option<String>, Option<String>) {
        let l = gazetteer().locate(text);
        (l.district, l.street)
    }

    #[test]
    fn sixteen_districts_and_their_streets() {
        let g = gazetteer();
        assert_eq!(g.districts().count(), 16);
        assert_eq!(g.places.len(), 16 + 349);
    }

    #[test]
    fn full_and_short_forms() {
        assert_eq!(loc("我住朝阳区望京街道"), (Some("朝阳区".into()), Some("望京街道".into())));
        assert_eq!(loc("在朝阳这边，望京那块"), (Some("朝阳区".into()), Some("望京街道".into())));
        assert_eq!(loc("望京这边有个饭店油烟很大"), (Some("朝阳区".into()), Some("望京街道".into())));
        assert_eq!(loc("海淀区的一个小区"), (Some("海淀区".into()), None));
        assert_eq!(loc("通州梨园镇"), (Some("通州区".into()), Some("梨园镇".into())));
    }

    #[test]
    fn no_false_hits() {
        assert_eq!(loc("我老家在大兴安岭"), (None, None));
        assert_eq!(loc("楼下烧烤店油烟太大了"), (None, None));
        assert_eq!(loc("东风汽车的售后"), (None, None));
        // The province, not 房山's 河北镇, which is said in full.
        assert_eq!(loc("我父亲在河北老家住院"), (None, None));
        assert_eq!(loc("我住房山河北镇的一个村"), (Some("房山区".into()), Some("河北镇".into())));
    }

    #[test]
    fn an_ambiguous_short_form_is_settled_by_the_district() {
        // 八里庄 is a street in both 朝阳 and 海淀.
        assert_eq!(loc("海淀八里庄这边"), (Some("海淀区".into()), Some("八里庄街道".into())));
        assert_eq!(loc("八里庄这边").1, None);
        assert_eq!(loc("八里庄这边，八里庄东里").1, None, "saying it twice does not settle it");
        assert_eq!(loc("我们是海淀区户口，但是房子在朝阳").0.as_deref(), Some("海淀区"), "on a tie the district said first wins");
    }

    #[test]
    fn landmarks_name_their_street_or_district() {
        assert_eq!(loc("我在国贸这边上班，写字楼底下"), (Some("朝阳区".into()), Some("建外街道".into())));
        assert_eq!(loc("北京南站出站口出租车乱要价"), (Some("丰台区".into()), None));
        // A district said outright wins over one a landmark implies.
        assert_eq!(loc("我住海淀，今天去北京南站"), (Some("海淀区".into()), None));
        let g = gazetteer();
        assert!(g.districts().all(|d| !d.name.is_empty()) && g.districts().count() == 16, "landmarks are not divisions");
        assert_eq!(g.locate("西单那边").evidence, vec!["西单".to_string()]);
        assert_eq!(loc("中美国贸易摩擦，东西单元门禁，推广内容"), (None, None), "landmarks inside other words");
        assert_eq!(loc("我住广外这边"), (Some("西城区".into()), Some("广安门外街道".into())));
        assert_eq!(loc("通州于家务这边"), (Some("通州区".into()), Some("于家务回族乡".into())));
        // The longest name wins over a division's short form inside it.
        assert_eq!(loc("我在永定门这边").0.as_deref(), Some("东城区"));
        assert_eq!(loc("天坛医院挂号难").0.as_deref(), Some("丰台区"));
        assert_eq!(loc("东四环边上").0.as_deref(), Some("朝阳区"));
    }

    #[test]
    fn a_landmark_must_point_at_a_known_division() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.csv");
        std::fs::write(&path, "110101,东城区,district,110101,东城区\n999,故宫,landmark,110101,东城区\n").unwrap();
        let e = Gazetteer::load(&path).unwrap_err().to_string();
        assert!(e.contains("no district or street has code 999") && e.contains(":2"), "{e}");
        std::fs::write(&path, "110101,东城区,district,110101,东城区\n110101,故宫,landmark,110102,西城区\n").unwrap();
        assert!(Gazetteer::load(&path).unwrap_err().to_string().contains("is in 东城区, not 西城区"));
    }

    #[test]
    fn places_heard_through_same_sound_slips() {
        // 潮阳 for 朝阳, 劲送 for 劲松 (a street short form, admitted inside its district).
        assert_eq!(loc("我在潮阳劲送这块儿八区"), (Some("朝阳区".into()), Some("劲松街道".into())));
        assert_eq!(loc("海电区学院路"), (Some("海淀区".into()), Some("学院路街道".into())));
        // Common words that sound like a district stay words.
        assert_eq!(loc("这是一个大型超市，要评估一下"), (None, None));
        // Most of the word would have to be a slip, or it does not stand where places do.
        assert_eq!(loc("常青花园的房照"), (None, None));
        assert_eq!(loc("老百姓人微言轻"), (None, None));
        assert_eq!(loc("早晚高峰私家车"), (None, None));
        // What is written wins over what is heard.
        assert_eq!(loc("朝阳区望京"), (Some("朝阳区".into()), Some("望京街道".into())));
    }

    #[test]
    fn where_a_place_is_put_more_of_it_may_be_misheard() {
        // A street's short form with no district, where callers put a place.
        assert_eq!(loc("我想表扬一个公交司机斤松那边的"), (Some("朝阳区".into()), Some("劲松街道".into())));
        // All but one character of a longer name, where the caller firmly puts a place.
        assert_eq!(loc("我在海淀赶家叩这边"), (Some("海淀区".into()), Some("甘家口街道".into())));
        // Both characters of a street's short form, in a district already found, or of a
        // district's; the marker itself may be misheard (那贬 for 那边).
        assert_eq!(loc("幼儿园顺义霜枫那边的"), (Some("顺义区".into()), Some("双丰街道".into())));
        assert_eq!(loc("我住童周我们小区东边"), (Some("通州区".into()), None));
        assert_eq!(loc("我在海淀赶家叩那贬"), (Some("海淀区".into()), Some("甘家口街道".into())));
        // A district heard outright beats the street written inside it (景山 in 时景山).
        assert_eq!(loc("我是时景山金顶街的"), (Some("石景山区".into()), Some("金顶街街道".into())));
        // A footbridge is not 天桥街道, and pieces of common words stay words.
        assert_eq!(loc("那个过街天桥底下"), (None, None));
        assert_eq!(loc("良好的信誉和市场营销环境"), (None, None));
        assert_eq!(loc("我市城区部分桥梁"), (None, None));
        assert_eq!(loc("长安西路边防支队"), (None, None));
    }

    #[test]
    fn a_district_is_placed_by_markers_that_were_misheard_too() {
        // 曲 for 区, 施 for 是, and an operator's 某 after the district.
        assert_eq!(loc("市民反映舜义曲某村闲置厂房").0.as_deref(), Some("顺义区"));
        assert_eq!(loc("户口已落丰太如何办理").0.as_deref(), Some("丰台区"));
        assert_eq!(loc("举报昌评某寸有人无证经营").0.as_deref(), Some("昌平区"));
        // A street's short form is not heard that way: 开始清园 is no 清源.
        assert_eq!(loc("八点多就开始清园了"), (None, None));
    }

    #[test]
    fn a_place_named_twice_is_still_found() {
        assert_eq!(loc("我在望京的一个超市买的，超市在望京西路上"), (Some("朝阳区".into()), Some("望京街道".into())));
        assert_eq!(loc("甘家口这边，甘家口小区二十二号楼"), (Some("海淀区".into()), Some("甘家口街道".into())));
    }
}
