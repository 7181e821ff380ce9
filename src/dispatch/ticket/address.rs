//! The address of a ticket: district and street from the gazetteer, then the parts no list can
//! hold (estates, roads and numbers, buildings, landmarks), found by their endings and cut back
//! to where their name starts.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::Span;
use crate::text::sites::name_start;
use crate::text::Location;

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TicketAddress {
    /// The gazetteer's names, as the dispatch suggestion gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// Residential estate, community or village (小区, 社区, 家园, 村 ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estate: Option<Span>,
    /// Road or street name, with its number when said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub road: Option<Span>,
    /// Building, unit and room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub building: Option<Span>,
    /// A named place the caller locates it by (a station, a mall, a park).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmark: Option<Span>,
    /// The parts on one line, largest first, as a ticket's address field reads.
    pub line: String,
}

/// A name never reaches back past these: they end a clause, a pronoun or a larger division
/// (`朝阳区望京西园三区` is the estate `望京西园三区`).
const BOUNDARY: &[char] = &[
    '在', '住', '的', '是', '了', '我', '们', '和', '与', '及', '到', '从', '对', '于', '个', '该', '这', '那', '位', '区', '市', '县', '镇', '乡', '省',
    '道', '买', '向', '给', '被', '把', '有', '说', '就', '也', '都', '还', '又', '嗯', '啊', '呢', '吧', '哪', '去', '来', '边', '旁', '近', '附', '条',
    '楼', '号', '家', '某', '叫', '往', '其', '让',
];

/// Boundary characters that are also common inside names (朱家坟, 名都花园, 车道沟, 和平里, 鼓楼东大街, 煤市街, 良乡西路): they
/// end a name only after a word that cannot start one (我家, 我们都, 街道, 你和, 北京市, 城乡).
const SOFT_BOUNDARY: &[char] = &['家', '都', '道', '和', '楼', '市', '乡'];

/// Characters before a soft boundary that make it a boundary after all.
const BEFORE_SOFT: &[char] = &[
    '我', '你', '他', '她', '咱', '俺', '人', '们', '老', '回', '在', '住', '全', '大', '一', '这', '那', '也', '就', '还', '不', '街', '知', '的', '到', '家', '都', '道', '和', '京', '本', '城', '超', '下',
];

/// Names that end like a place but name none in particular.
const GENERIC: &[&str] = &[
    "小区", "社区", "农村", "乡村", "本村", "该村", "全村", "各村", "两村", "同村", "邻村", "外村", "新村", "花园", "公寓", "家园", "马路", "道路", "公路",
    "小路", "大路", "铁路", "大街", "步行街", "商业街", "一条街", "医院", "学校", "超市", "市场", "车站", "商场", "广场", "公园", "大厦", "中心", "银行",
];

static ESTATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([\p{Han}A-Za-z0-9]{0,10}?)(小区|社区|家园|花园|嘉园|公寓|新村|新城|大院|园[一二三四五六七八九十0-9]{1,2}[区期里]|[东西南北中]园|[东西南北中][一二三四五六七八九十]{1,2}[区里]|[东西南北中新]区|[一二三四五六七八九十]{1,2}[区期]|苑[东西南北中]里|苑|村|里)([东西南北中]?[一二三四五六七八九十0-9]{1,3}[区期组里]|(?:小区|社区)?[东西南北中]区|社区|小区)?").expect("estate pattern")
});

/// Before `里`, these make another word: 家里, 这里, 夜里, 小区里.
const NOT_BEFORE_LI: &[char] = &['同', '家', '这', '那', '哪', '心', '夜', '村', '屋', '院', '城', '楼', '店', '手', '嘴', '眼', '司', '区', '位', '校', '子', '头', '在', '到', '圈', '群', '水', '车', '床', '地', '坑', '沟', '河', '田', '山', '园', '厂', '所', '室', '局', '队', '门', '箱', '管', '网', '话', '机', '层', '间', '柜', '卡', '厦', '馆', '库', '包', '盒', '瓶', '桶', '锅', '碗', '袋', '兜'];

/// An estate named with a bare `园` (康顺园3号楼, 住育芳园的): read apart from [`ESTATE`].
static YUAN_ESTATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\p{Han}{0,10}?)(园)").expect("estate pattern"));

/// Before a bare `园`, these make a place that is no estate: 公园, 幼儿园, 果园, 校园, 物流园,
/// 颐和园, and a kindergarten's 转园 or 退园.
const NOT_BEFORE_YUAN: &[char] = &['公', '儿', '物', '果', '菜', '校', '业', '技', '乐', '植', '陵', '墓', '庄', '田', '茶', '家', '花', '嘉', '游', '梨', '桃', '苗', '流', '惠', '教', '和', '转', '退', '入', '在', '该', '本', '全'];

/// What may follow an estate named with a bare 园: a number, a building, or the end of a phrase.
const AFTER_YUAN: &[&str] = &["小区", "社区", "号", "楼", "的", "住", "是", "，", "。", "、", " "];

/// Words inside a would-be landmark that show it is none.
const NOT_LANDMARK: &[&str] = &[
    "年", "孩子", "证明", "咨询", "上小学", "上中学", "上大学", "上幼儿园", "一家", "这家", "那家", "哪家", "附近", "反映", "您", "跳", "通过", "直达", "里面", "底下",
];

/// Time and pointing words a name never starts with: 前几天小区 is no estate.
const NOT_NAME_STARTS: &[&str] = &["紧挨着", "挨着", "想投诉", "要投诉", "投诉", "举报", "反映", "一下", "面", "段", "联系过", "联系了", "联系", "找过", "问过", "前几天", "这几天", "今天", "昨天", "前天", "现在", "当时", "这个", "那个", "我们", "咱们", "他们", "整个", "附近",
    // An ask or a pointing phrase said just before 社区 or 医院 (希望社区协调一下, 这种情况社区不管) is no name.
    "希望", "要求", "麻烦", "种情况", "情况"];
static ROAD: LazyLock<Regex> = LazyLock::new(|| {
    // The ending is followed by its number, or any character that does not make it
    // another word (路灯, 路口, 街道); the regex has no look-ahead, so that character is matched.
    Regex::new(r"([\p{Han}A-Za-z]{1,8}?)(大街|大道|胡同|路|街|巷|[一二三四五六七八九十]{1,2}条)(辅路)?([甲乙丙]?[0-9一二三四五六七八九十百]{1,4}号|[^灯口面况段由线费径过人道坊头牌基沿]|$)").expect("road pattern")
});
static BUILDING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[0-9]{1,4}|[一二三四五六七八九十]{1,3})(?:号楼|号院|栋|幢|座)(?:[0-9一二三四五六七八九十]{1,3}(?:单元|门))?(?:[0-9]{2,5}(?:室|号)?)?|[0-9]{1,3}(?:单元|门)[0-9]{2,5}(?:室|号)?").expect("building pattern")
});
const LANDMARK_ENDINGS: &[&str] = &["地铁站", "公交站", "火车站", "购物中心", "体育馆", "图书馆", "公园", "医院", "商场", "广场", "大厦", "超市", "酒店", "宾馆", "银行", "SOHO", "小学", "中学", "大学", "幼儿园"];
static LANDMARK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"([\p{{Han}}A-Za-z0-9]{{1,8}}?)({})", LANDMARK_ENDINGS.join("|"))).expect("landmark pattern")
});

/// A name found by its ending: cut back to the last boundary before the ending, and kept only
/// when the name and its ending (the tail aside) come to at least `min_chars` characters.
fn named(text: &str, m: &regex::Captures, min_chars: usize) -> Option<(usize, usize)> {
    let whole = m.get(0)?;
    let name = m.get(1)?;
    let suffix = m.get(2)?;
    let start = start_of_name(text, name.range());
    let base = text[start..suffix.end()].chars().count();
    let found = &text[start..whole.end()];
    // A block number makes a short name enough: 嘉园二里.
    let min_chars = if m.get(3).is_some() { min_chars.min(2) } else { min_chars };
    (base >= min_chars && !GENERIC.contains(&found)).then_some((start, whole.end()))
}

/// Where a name found by its ending starts: after the last boundary before the ending, where a
/// soft boundary inside a name (朱家坟, or 和平里 after a comma) does not count.
fn start_of_name(text: &str, name: std::ops::Range<usize>) -> usize {
    let mut start = name.start;
    for (i, c) in text[name.clone()].char_indices().rev() {
        let at = name.start + i;
        if !BOUNDARY.contains(&c) {
            continue;
        }
        let before = text[..at].chars().next_back();
        let soft = SOFT_BOUNDARY.contains(&c) && before.is_none_or(|b| !is_han(b) || !(BEFORE_SOFT.contains(&b) || BOUNDARY.contains(&b)));
        if !soft {
            start = at + c.len_utf8();
            break;
        }
    }
    // 府前街边上望怀小区: the 上 of 边上 ("beside") is no part of the name.
    if text[..start].ends_with('边') && text[start..name.end].starts_with('上') {
        start += '上'.len_utf8();
    }
    // No boundary is left to find: only the words a name never starts with.
    name_start(text, start..name.end, &[], NOT_NAME_STARTS)
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// What may follow an estate whose name ends in a bare 里: a number, a building, or the end of a
/// phrase (云景里3号楼, 云景里小区, 云景里的). 冰柜里停电 is no estate.
const AFTER_LI: &[&str] = &["小区", "社区", "号", "楼", "的", "这", "那", "住", "是", "，", "。", "、", " ", "东", "西", "南", "北"];

/// Whether what follows a bare ending (里, 园) lets it end a name: nothing, a number, or one of
/// `allowed` (楼, 小区, a comma ...).
fn ends_name(after: &str, allowed: &[&str]) -> bool {
    after.is_empty() || starts_with_number(after) || allowed.iter().any(|a| after.starts_with(a))
}

/// Whether a building's or door's number comes next: 3号楼, or 十五号楼 as speech-to-text writes it.
fn starts_with_number(after: &str) -> bool {
    let numerals = after.chars().take_while(|c| "一二三四五六七八九十".contains(*c)).count();
    after.starts_with(|c: char| c.is_ascii_digit()) || ((1..=3).contains(&numerals) && after.chars().nth(numerals) == Some('号'))
}

/// The text with every 里 that counts a distance or opens a longer name (往东一里地, 十八里店,
/// 三里河) replaced by a character of the same length that ends nothing, so that the estate
/// pattern reads past it (西五里营村, 三里河一区). A numbered block (苏庄二里, 嘉园二里) keeps its 里.
fn without_counted_li(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let numeral = |c: char| "一二三四五六七八九十百几".contains(c);
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if c != '里' {
                return c;
            }
            let numerals = chars[..i].iter().rev().take_while(|&&b| numeral(b)).count();
            let before = i.checked_sub(numerals + 1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            // 苏庄二里 and 翠林三里 are estates; 十八里店, 五里坨 and 一里地 go on into another word.
            let goes_on = next.is_some_and(|n| "店堡坨河营地屯庄桥沟铺渠".contains(n));
            // 韦里村 and 后石三里村 are villages: their 里 ends nothing.
            if (numerals > 0 && goes_on && !before.is_some_and(|b| "园苑".contains(b))) || next == Some('村') { '哩' } else { c }
        })
        .collect()
}

/// Whether an estate's name runs on into a road's (姚家园路, 安德里北街): then it is the road.
fn runs_into_road(after: &str) -> bool {
    let after = after.strip_prefix(['东', '西', '南', '北', '中']).unwrap_or(after);
    ["大街", "大道", "胡同", "路", "街"].iter().any(|r| after.strip_prefix(r).is_some_and(|rest| !rest.starts_with(['口', '边', '上', '旁', '面', '灯', '道'])))
}

fn estate(text: &str, places: &[String], district: Option<&str>) -> Option<(usize, usize)> {
    let masked = without_counted_li(text);
    let mut found: Vec<(usize, usize)> = ESTATE
        .captures_iter(&masked)
        // Apart, so that a name with 园 inside (荆栗园村, 果园西里) is still read whole.
        .chain(YUAN_ESTATE.captures_iter(&masked))
        .filter(|m| {
            let after = &text[m.get(0).map_or(0, |w| w.end())..];
            // A bare 园 ends an estate's name (康顺园, 育芳园) where a building, a number or the
            // end of a phrase follows, but 公园, 幼儿园 and 果园 are no estates.
            if let Some(suffix) = m.get(2).filter(|s| s.as_str() == "园") {
                return !text[..suffix.start()].ends_with(NOT_BEFORE_YUAN) && ends_name(after, AFTER_YUAN);
            }
            // 里 ends an estate's name (云景里, 角门东里), but 家里 and 夜里 are no places.
            let Some(suffix) = m.get(2).filter(|s| s.as_str() == "里") else { return true };
            // 龙潭北里 and 嘉园二里 are estates wherever they are said.
            let numbered = text[..suffix.start()].ends_with(|c: char| "东西南北中一二三四五六七八九十".contains(c));
            m.get(3).is_some()
                || numbered
                || (!text[..suffix.start()].ends_with(NOT_BEFORE_LI) && ends_name(after, AFTER_LI))
        })
        .filter_map(|m| named(text, &m, 3))
        .map(|(s, e)| (whole_generic_name(text, s, e), e))
        // 两个月小区里 names no estate: a name before 小区 has two characters at least.
        .filter(|&(s, e)| before_estate_word(&text[s..e]).is_none_or(|core| core.chars().count() >= 2))
        .map(|(s, e)| (with_place_before(text, s, places), e))
        // A district or town said just before the estate is not part of its name: 海淀上地西里.
        .map(|(s, e)| strip_places(text, s, e, places, district))
        .map(|(s, e)| (strip_road(text, s, e), e))
        // 七八公里 is a distance, 物业或者社区 two bodies; 中关村 said alone is the street.
        .filter(|&(s, e)| !text[s..e].ends_with("公里") && !NOT_IN_ESTATE.iter().any(|w| text[s..e].contains(w)))
        .filter(|&(s, e)| !places.iter().any(|p| p == &text[s..e]) && !runs_into_road(&text[e..]))
        // 清河社区卫生服务中心 is a clinic, named after the community.
        .filter(|&(_, e)| !text[e..].starts_with("卫生"))
        .map(|(s, e)| (without_stutter(text, s, e), e))
        .collect();
    // In the order said; of two found at one place, the longer first.
    found.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
    let found = without_taken_back(text, found);
    // The first estate named is where the matter is; said again more fully, the fuller wins,
    // and a name with its block (天通北苑二区) is fuller than one without.
    let first = *found.first()?;
    let first_text = &text[first.0..first.1];
    let block = |&(s, e): &(usize, usize)| text[s..e].ends_with(['区', '期', '组', '里']) as usize;
    let fuller = found.iter().copied().filter(|&(s, e)| text[s..e].contains(first_text)).max_by_key(|&(s, e)| (e - s, std::cmp::Reverse(s))).unwrap_or(first);
    Some(if block(&fuller) == 0 { found.iter().copied().find(|r| block(r) == 1).unwrap_or(fuller) } else { fuller })
}

/// The name before a closing 小区 or 社区, if it has one.
fn before_estate_word(name: &str) -> Option<&str> {
    ["小区", "社区"].iter().find_map(|x| name.strip_suffix(x))
}

/// A name that is only endings (家园小区: the regex read 新城 of 新城家园小区 as an estate of its
/// own and left 家园小区) starts where the name before it starts.
fn whole_generic_name(text: &str, s: usize, e: usize) -> usize {
    let name = &text[s..e];
    let core = before_estate_word(name).unwrap_or(name);
    if !GENERIC.contains(&core) {
        return s;
    }
    let from = text[..s].char_indices().rev().take(6).last().map_or(s, |(i, _)| i);
    let start = start_of_name(text, from..s);
    if text[start..s].chars().count() >= 2 && text[start..s].chars().all(is_han) { start } else { s }
}

/// Words an estate's name never holds.
const NOT_IN_ESTATE: &[&str] = &["或", "物业", "还是", "公司", "然后", "不能", "不再", "一下", "可以", "问过", "之前"];

/// What a caller says to take back a place just said (天通北苑二区，哦不是，三区).
const TAKEN_BACK: &[&str] = &["不是", "不对", "说错", "哦不"];

/// The places found, in order, without each one the caller took back: a correction follows it
/// closely and another place of the same kind follows the correction.
fn without_taken_back(text: &str, found: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let taken_back = |&(_, e): &(usize, usize)| {
        found.iter().any(|&(s, _)| {
            s >= e && {
                let gap = &text[e..s];
                gap.chars().count() <= 12 && TAKEN_BACK.iter().any(|w| gap.contains(w))
            }
        })
    };
    found.iter().copied().filter(|f| !taken_back(f)).collect()
}

/// Where a name starts when a soft boundary just before it opens a place the call named
/// (和平里街道和平里七区: the 和 starts 和平里, it is no "and").
fn with_place_before(text: &str, s: usize, places: &[String]) -> usize {
    match text[..s].chars().next_back() {
        Some(c) if SOFT_BOUNDARY.contains(&c) => {
            let at = s - c.len_utf8();
            if places.iter().any(|p| p.chars().count() >= 2 && text[at..].starts_with(p.as_str())) { at } else { s }
        }
        _ => s,
    }
}

/// Where an estate's own name starts when a road or bridge is said right before it
/// (万红西街高家园小区, 酒仙桥高家园小区): after the road, if a name is left.
fn strip_road(text: &str, s: usize, e: usize) -> usize {
    let span = &text[s..e];
    let Some((i, c)) = span.char_indices().filter(|(_, c)| "街路桥".contains(*c)).last() else { return s };
    // 城府路上华清嘉园: the 上 is "on" the road.
    let skip = if span[i + c.len_utf8()..].starts_with('上') { '上'.len_utf8() } else { 0 };
    let rest = &span[i + c.len_utf8() + skip..];
    let core = ["小区", "社区", "家园", "花园", "公寓", "新村"].iter().find_map(|x| rest.strip_suffix(x)).unwrap_or(rest);
    let core = core.trim_end_matches(|c: char| "区期组里苑村".contains(c) || c.is_ascii_digit() || "一二三四五六七八九十东西南北中".contains(c));
    if core.chars().count() >= 2 && rest.chars().count() >= 3 { s + i + c.len_utf8() + skip } else { s }
}

/// Operators' questions whose answer is an estate's or a project's name.
const ESTATE_QUESTIONS: &[&str] = &["哪个小区", "什么小区", "小区叫什么", "小区名", "哪个项目", "哪个楼盘", "什么项目"];

/// What a caller opens an answer with before the name itself.
const ANSWER_OPENERS: &[&str] = &["就是", "我们是", "我们", "我住", "住在", "在", "是", "的", "那个", "嗯"];

/// An estate with no ending we know (禧悦澜庭, 富力城), named in answer to the operator's
/// question: the opening words of the next turn, after the places it repeats.
fn answered_estate(text: &str, places: &[String]) -> Option<(usize, usize)> {
    let asked = ESTATE_QUESTIONS.iter().filter_map(|q| text.find(q).map(|i| i + q.len())).min()?;
    // Past the question mark, full-width or not (they differ in length).
    let (i, mark) = text[asked..].char_indices().find(|&(_, c)| c == '？' || c == '?')?;
    let mut s = asked + i + mark.len_utf8();
    loop {
        let rest = &text[s..];
        // An empty word would match forever.
        match places.iter().map(String::as_str).chain(ANSWER_OPENERS.iter().copied()).filter(|w| !w.is_empty()).find(|w| rest.starts_with(*w)) {
            Some(w) => s += w.len(),
            None => break,
        }
    }
    let len = text[s..].find(|c: char| !is_han(c) || BOUNDARY.contains(&c)).unwrap_or(text.len() - s);
    let name = &text[s..s + len];
    ((2..=8).contains(&name.chars().count()) && !names_no_estate(name)).then_some((s, s + len))
}

/// Whether words said where an estate's name would stand name none: an answer that names
/// nothing (不知道叫什么, 没有小区), a word for any estate (小区), or a word no name holds (物业).
fn names_no_estate(name: &str) -> bool {
    name.starts_with(['不', '没', '忘', '对', '这', '那', '哦', '啊']) || GENERIC.contains(&name) || NOT_IN_ESTATE.iter().any(|w| name.contains(w))
}

/// An estate with no ending we know, named where only an estate can stand: after 小区叫, or
/// before the building number or 的业主 that follows where the caller lives (我们小区 叫康馨园,
/// 那个润泽御府的业主, 住在澜山悦府3号楼).
static SAID_ESTATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:小区\s?(?:名字|名)?叫|小区是|住在|家住|我住)\s?(?:那个\s?|就是\s?)?(\p{Han}{2,6}?)\s?(?:[0-9一二三四五六七八九十]{1,3}号楼|的业主|[，。,\s]|$)|(?:那个|我是|我们是)(\p{Han}{2,6}?)的业主")
        .expect("said-estate pattern")
});

/// Names that stand where an estate would but say where the caller is, not which estate.
const NOT_AN_ESTATE: &[&str] = &["隔壁", "对面", "楼上", "楼下", "附近", "旁边", "这边", "那边", "这里", "那里", "这儿", "那儿", "本市", "北京", "城里", "农村", "老家", "一楼", "顶楼", "平房", "村里", "小区"];

fn said_estate(text: &str, places: &[String]) -> Option<(usize, usize)> {
    SAID_ESTATE.captures_iter(text).find_map(|c| {
        let name = c.get(1).or(c.get(2))?;
        let found = name.as_str();
        let no_name = names_no_estate(found)
            || found.starts_with(['我', '你', '您', '他', '在', '的', '一', '个'])
            || found.contains(['楼', '层', '号', '家', '里', '边'])
            || found.starts_with(|c: char| "一二三四五六七八九十两几".contains(c))
            // 家住菊儿胡同: a road, which the road finder names.
            || ["胡同", "路", "街", "巷", "道", "条"].iter().any(|r| found.ends_with(r))
            || NOT_AN_ESTATE.iter().any(|w| found.contains(w))
            || places.iter().any(|p| p == found || found.starts_with(p.as_str()));
        (!no_name).then(|| (name.start(), name.end()))
    })
}

fn road(text: &str, avoid: Option<(usize, usize)>, places: &[String]) -> Option<(usize, usize)> {
    let found: Vec<(usize, usize)> = ROAD
        .captures_iter(text)
        // 51路 is a bus route, not a road.
        .filter(|m| !text[..m.get(2).map_or(0, |s| s.start())].ends_with(|c: char| c.is_ascii_digit()))
        .filter_map(|m| {
            let (name, ending) = (m.get(1)?, m.get(3).or(m.get(2))?);
            // The number is the road's, but not a building's number (15号楼), and a
            // single character after it is not.
            let end = m.get(4).filter(|t| t.as_str().chars().count() >= 2 && !text[t.end()..].starts_with('楼')).map_or(ending.end(), |t| t.end());
            let start = start_of_name(text, name.range());
            // A numbered hutong (草厂三条, 东四六条) has a name of its own before the number:
            // 其中一条 and 增加一条 count things, and so do rough counts (七八条, 两三条狗).
            let suffix = m.get(2)?;
            let counted = text[..suffix.start()].ends_with(['中', '其', '加', '有', '第', '每', '这', '那', '哪', '两', '几']) || rough_count(suffix.as_str());
            if suffix.as_str().ends_with('条') && (text[start..suffix.end()].chars().count() < 4 || counted) {
                return None;
            }
            let found = &text[start..end];
            (text[start..ending.end()].chars().count() >= 3 && !GENERIC.contains(&found)).then_some((start, end))
        })
        // 反映一下路的问题, 老板跑路: a verb, not a road.
        .filter(|&(s, e)| !NOT_IN_ROAD.iter().any(|w| text[s..e].contains(w)))
        // A town said just before its road is not part of the road's name: 黄村兴华大街.
        .map(|(mut s, e)| {
            while let Some(p) = places.iter().filter(|p| p.chars().count() >= 2).find(|p| text[s..e].starts_with(p.as_str()) && names_a_road(&text[s + p.len()..e])) {
                s += p.len();
            }
            (s, e)
        })
        // 学院路 and 展览路 said alone are the streets (街道) named after them, which the address
        // already gives; with a number they are the road.
        .filter(|&(s, e)| !places.iter().any(|p| p == &text[s..e]))
        .map(|(s, e)| (after_gate(text, s, e), e))
        .map(|(s, e)| (without_stutter(text, s, e), e))
        .chain(NATIONAL_ROAD.find_iter(text).map(|m| (m.start(), m.end())))
        .filter(|&(s, e)| avoid.is_none_or(|(a, b)| e <= a || s >= b))
        .collect();
    without_taken_back(text, found).into_iter().min_by_key(|&(s, _)| s)
}

/// Two numbers in a row, one apart, say "about so many" (七八条), not a hutong's number.
fn rough_count(numbered: &str) -> bool {
    const DIGITS: &str = "一二三四五六七八九";
    let digits: Vec<usize> = numbered.chars().filter_map(|c| DIGITS.chars().position(|d| d == c)).collect();
    digits.len() == 2 && digits[1] == digits[0] + 1
}

/// National roads go by their number (108国道).
static NATIONAL_ROAD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9]{2,3}国道").expect("national road pattern"));

/// A road said after the gate it runs past starts after the gate (小区南门外新桥大街), unless the
/// gate names the road (东直门外大街).
fn after_gate(text: &str, s: usize, e: usize) -> usize {
    let Some((i, gate)) = ["门外", "门口"].iter().find_map(|g| text[s..e].rfind(g).map(|i| (i, g))) else { return s };
    let rest = s + i + gate.len();
    if names_a_road(&text[rest..e]) { rest } else { s }
}

/// A name said twice over, as a caller corrects or repeats it and speech-to-text keeps both
/// (清塔清塔西路): from its second saying.
fn without_stutter(text: &str, s: usize, e: usize) -> usize {
    let name = &text[s..e];
    (1..=3)
        .filter_map(|n| name.char_indices().nth(n).map(|(i, _)| i))
        .find(|&i| name[i..].starts_with(&name[..i]) && name[i..].chars().count() >= 3)
        .map_or(s, |i| s + i)
}

/// `text[s..e]` without the place names it starts with, as long as a name is left before any
/// block number (two characters after a district's name, three after a street's): 海淀上地西里
/// is 上地西里, but 望京西园三区 stays whole.
fn strip_places(text: &str, mut s: usize, e: usize, places: &[String], district: Option<&str>) -> (usize, usize) {
    // A district's name never starts an estate's (海淀上地西里); a street's may (望京西园三区).
    let named_alone = |p: &str, rest: &str| {
        let rest = before_estate_word(rest).unwrap_or(rest);
        let head = rest.trim_end_matches(|c: char| "区期组里号院".contains(c)).trim_end_matches(|c: char| c.is_ascii_digit() || "一二三四五六七八九十东西南北中".contains(c));
        head.chars().count() >= if district.is_some_and(|d| d.starts_with(p)) { 2 } else { 3 }
    };
    while let Some(p) = places.iter().filter(|p| p.chars().count() >= 2).find(|p| text[s..e].starts_with(p.as_str()) && named_alone(p, &text[s + p.len()..e])) {
        s += p.len();
    }
    (s, e)
}

/// Whether what is left after a place name still names a road (石园东路), not only its number
/// or a direction: 东直门外大街 and 鼓楼东大街 keep their place names.
fn names_a_road(rest: &str) -> bool {
    let name = rest.trim_end_matches(|c: char| c.is_ascii_digit() || "号院一二三四五六七八九十百".contains(c));
    let Some(core) = ["大街", "大道", "胡同", "路", "街", "巷", "道"].iter().find_map(|s| name.strip_suffix(s)) else { return false };
    core.trim_end_matches(|c: char| "东西南北中内外".contains(c)).chars().count() >= 2
}

/// Words a road's name never holds: 十几里山路 is how far, not a road's name.
const NOT_IN_ROAD: &[&str] = &["沿街", "公共道路", "线路", "一下", "反映", "跑路", "走路", "带路", "让路", "修路", "上路", "马路", "出路", "问路", "顺路", "绕路", "半路", "公里", "几里", "里山路"];

fn landmark(text: &str, taken: &[(usize, usize)], places: &[String], district: Option<&str>) -> Option<(usize, usize)> {
    LANDMARK
        .captures_iter(text)
        .filter_map(|m| named(text, &m, 4))
        // 海淀医院 keeps its name: a place is cut from the front only when a name of two
        // characters is left (not 龙潭湖公园's 湖公园), and 良乡第二小学 keeps it, since 第二小学 is
        // no name alone.
        .map(|(s, e)| match strip_places(text, s, e, places, district) {
            (t, e) if text[t..e].starts_with('第') || name_before_ending(&text[t..e]) < 2 => (s, e),
            stripped => stripped,
        })
        // 孩子上小学 and 开证明的医院 name no place.
        .filter(|&(s, e)| !NOT_LANDMARK.iter().any(|w| text[s..e].contains(w)))
        .find(|&(s, e)| taken.iter().all(|&(a, b)| e <= a || s >= b))
}

/// How many characters a landmark's name has before its ending (龙潭湖公园: 3, 湖公园: 1).
fn name_before_ending(landmark: &str) -> usize {
    LANDMARK_ENDINGS.iter().find_map(|e| landmark.strip_suffix(e)).map_or(usize::MAX, |n| n.chars().count())
}

/// The gazetteer's landmarks that name a street by its short form (广内) or a whole area of
/// estates (天通苑), not a place a ticket would mark.
const NOT_A_TICKET_LANDMARK: &[&str] = &["广内", "广外", "天通苑"];

/// A landmark the gazetteer knows by name (簋街, 五道口), where no ending marked one. Gates,
/// ring roads and roads it lists to settle a district (宣武门, 东三环, 光华路) are no landmark.
fn known_landmark(text: &str, taken: &[(usize, usize)], known: &[String]) -> Option<(usize, usize)> {
    known
        .iter()
        .filter(|k| !["门", "环", "路", "大街"].iter().any(|e| k.ends_with(e)) && !NOT_A_TICKET_LANDMARK.contains(&k.as_str()))
        .filter_map(|k| text.find(k.as_str()).map(|s| (s, s + k.len())))
        .filter(|&(s, e)| taken.iter().all(|&(a, b)| e <= a || s >= b))
        .min_by_key(|&(s, _)| s)
}

/// The names the call used for its district and street (朝阳, 望京), and their short forms.
fn place_names(location: &Location) -> Vec<String> {
    let mut names: Vec<String> = location.evidence.clone();
    for full in location.district.iter().chain(location.street.iter()) {
        names.push(full.clone());
        let short = short_name(full);
        if short.chars().count() >= 2 {
            names.push(short.to_string());
        }
    }
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names
}

/// A district's or street's name as callers say it: 朝阳 for 朝阳区, 望京 for 望京街道.
pub(super) fn short_name(full: &str) -> &str {
    full.trim_end_matches("街道").trim_end_matches("地区").trim_end_matches(['区', '镇', '乡'])
}

/// The ticket's address, or None when the call names no place at all.
pub fn find(text: &str, location: &Location) -> Option<TicketAddress> {
    let places = place_names(location);
    let estate = estate(text, &places, location.district.as_deref()).or_else(|| answered_estate(text, &places)).or_else(|| said_estate(text, &places));
    let road = road(text, estate, &places);
    let building = BUILDING.find(text).map(|m| (m.start(), m.end()));
    let taken: Vec<(usize, usize)> = [estate, road, building].into_iter().flatten().collect();
    let landmark = match landmark(text, &taken, &places, location.district.as_deref()) {
        // 北京西站北广场 is at 北京西站, as a ticket names it.
        Some((s, e)) => Some(known_landmark(&text[..e], &taken, &location.landmarks).filter(|&(k, _)| k >= s).unwrap_or((s, e))),
        None => known_landmark(text, &taken, &location.landmarks),
    };
    let span = |r: Option<(usize, usize)>| r.map(|(s, e)| Span::of(text, s, e));
    let address = TicketAddress {
        district: location.district.clone(),
        street: location.street.clone(),
        estate: span(estate),
        road: span(road),
        building: span(building),
        landmark: span(landmark),
        line: String::new(),
    };
    let line: String = [address.district.as_deref(), address.street.as_deref(), address.road.as_ref().map(|s| s.text.as_str()), address.estate.as_ref().map(|s| s.text.as_str()), address.building.as_ref().map(|s| s.text.as_str())]
        .into_iter()
        .flatten()
        .collect();
    let line = if line.is_empty() { address.landmark.as_ref().map(|l| l.text.clone()).unwrap_or_default() } else { line };
    (!line.is_empty()).then_some(TicketAddress { line, ..address })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> TicketAddress {
        at(text, "朝阳区", "望京街道")
    }

    /// The address of a call whose district and street the gazetteer found.
    fn at(text: &str, district: &str, street: &str) -> TicketAddress {
        find(text, &Location { district: Some(district.into()), street: Some(street.into()), ..Location::default() }).expect("an address")
    }

    fn part(s: &Option<Span>) -> Option<&str> {
        s.as_ref().map(|s| s.text.as_str())
    }

    #[test]
    fn estate_building_and_line_are_cut_from_a_call() {
        let a = address("我是朝阳区望京西园三区3号楼2单元501的，楼下烧烤店油烟太大了");
        assert_eq!(part(&a.estate), Some("望京西园三区"));
        assert_eq!(part(&a.building), Some("3号楼2单元501"));
        assert_eq!(a.line, "朝阳区望京街道望京西园三区3号楼2单元501");
        let span = a.estate.unwrap();
        assert_eq!((span.start, span.end), (5, 11));
    }

    #[test]
    fn roads_with_numbers_and_not_road_lamps() {
        let a = address("海淀区学院路38号院门口的路灯不亮了");
        assert_eq!(part(&a.road), Some("学院路38号"), "the 院 is the building's");
        let b = address("我们小区门口路灯坏了一个月");
        assert_eq!(part(&b.road), None);
        assert_eq!(part(&b.estate), None, "我们小区 names no estate");
        assert_eq!(part(&address("我们村离学校十几公里山路，校车停了").road), None, "a distance is no road");
        assert_eq!(part(&address("我们村离学校十几里山路").road), None);
        assert_eq!(part(&address("石景山路18号门口").road), Some("石景山路18号"));
    }

    #[test]
    fn the_fuller_name_of_the_same_estate_wins() {
        let a = address("天通苑那边，就是天通苑北二区，物业不管事");
        assert_eq!(part(&a.estate), Some("天通苑北二区"));
    }

    #[test]
    fn a_landmark_is_found_apart_from_the_estate() {
        let a = address("在望京SOHO旁边的工地晚上施工");
        assert_eq!(part(&a.landmark), Some("望京SOHO"));
    }

    #[test]
    fn names_hold_characters_that_elsewhere_end_a_name() {
        assert_eq!(part(&address("我们东花市街道花市枣苑社区的养老驿站").estate), Some("花市枣苑社区"));
        assert_eq!(part(&address("投诉一下朱家坟社区门口的摊位").estate), Some("朱家坟社区"));
        assert_eq!(part(&address("我住在西城区大栅栏街道，煤市街上有家小饭馆").road), Some("煤市街"));
        assert_eq!(part(&address("就在鼓楼东大街边上，晚上吵").road), Some("鼓楼东大街"));
    }

    #[test]
    fn numbered_blocks_and_roads_said_before_an_estate() {
        assert_eq!(part(&address("我住朝阳区劲松街道劲松八区，806楼顶层").estate), Some("劲松八区"));
        assert_eq!(part(&address("就住龙潭北里离得也就几十米").estate), Some("龙潭北里"));
        assert_eq!(part(&address("我家住在万红西街高家园小区").estate), Some("高家园小区"));
        assert_eq!(part(&address("离这儿七八公里有个厂").estate), None);
    }

    #[test]
    fn a_road_ends_before_the_word_after_it() {
        assert_eq!(part(&address("新街口外大街上有个工地").road), Some("新街口外大街"));
        assert_eq!(part(&address("我想反映一下路的问题，黄平路上井盖没了").road), Some("黄平路"));
        assert_eq!(part(&address("老板跑路了，工地在东坝中路边上").road), Some("东坝中路"));
    }

    #[test]
    fn an_estate_named_in_answer_to_the_operator() {
        assert_eq!(part(&address("您在哪个小区？朝阳区的富力城，21号楼二单元。").estate), Some("富力城"));
        assert_eq!(part(&address("哪个项目？禧悦澜庭，开发商是北京鑫泰置业。").estate), Some("禧悦澜庭"));
        assert_eq!(part(&address("您在哪个小区？我不太清楚，就在路边。").estate), None);
        assert_eq!(part(&address("您在哪个小区？不知道叫什么，就在路边。").estate), None);
        // An ASCII question mark is one byte: skipping three would cut a character in two.
        assert_eq!(part(&address("您在哪个小区?富力城，21号楼。").estate), Some("富力城"));
    }

    #[test]
    fn a_street_named_after_its_road_is_no_road() {
        let at = |text: &str| at(text, "海淀区", "学院路街道");
        assert_eq!(part(&at("我住学院路这边，小区暖气不热").road), None);
        assert_eq!(part(&at("学院路38号院门口的路灯不亮").road), Some("学院路38号"));
    }

    #[test]
    fn estates_named_with_a_bare_yuan_and_villages_with_li() {
        assert_eq!(part(&at("我住大兴黄村的康顺园3号楼5单元601", "大兴区", "黄村镇").estate), Some("康顺园"));
        assert_eq!(part(&at("家住丰台区青塔街道青塔蔚园，东西还在家里", "丰台区", "青塔街道").estate), Some("青塔蔚园"));
        // 园 inside a longer name, and places that are no estates.
        assert_eq!(part(&at("我们是张家湾镇荆栗园村的", "通州区", "张家湾镇").estate), Some("荆栗园村"));
        assert_eq!(part(&at("住在石榴园南里小区2号楼", "丰台区", "大红门街道").estate), Some("石榴园南里小区"));
        assert_eq!(part(&at("孩子在普惠园上学，幼儿园说要转园的", "朝阳区", "望京街道").estate), None);
        assert_eq!(part(&at("我家在怀柔北房镇的韦里村，前年村里搞煤改电", "怀柔区", "北房镇").estate), Some("韦里村"));
        assert_eq!(part(&at("阎村镇后石三里村口那块有个井盖没了", "房山区", "阎村镇").estate), Some("后石三里村"));
    }

    #[test]
    fn a_crossing_names_its_first_road() {
        assert_eq!(part(&address("走到梨园北街和云景东路路口，那个井盖是松的").road), Some("梨园北街"));
        assert_eq!(part(&address("南邵路与富雅路交叉口附近一处井盖缺失").road), Some("南邵路"));
    }

    #[test]
    fn counted_li_sub_areas_and_numbered_hutongs() {
        assert_eq!(part(&at("我是延庆区张山营镇西五里营村的村民", "延庆区", "张山营镇").estate), Some("西五里营村"));
        assert_eq!(part(&at("我父亲住在密云十里堡镇的康乐颐养中心", "密云区", "十里堡镇").estate), None);
        assert_eq!(part(&at("家在三里河一区，孩子刚出生", "西城区", "月坛街道").estate), Some("三里河一区"));
        assert_eq!(part(&at("我住在苏庄三里，紧挨着西门", "房山区", "西潞街道").estate), Some("苏庄三里"));
        assert_eq!(part(&at("东城区和平里街道和平里七区的住户", "东城区", "和平里街道").estate), Some("和平里七区"));
        assert_eq!(part(&at("我们回龙观这个龙泽苑东区啊，遛狗不拴绳", "昌平区", "回龙观地区").estate), Some("龙泽苑东区"));
        assert_eq!(part(&at("家住石门苑小区东区。", "顺义区", "胜利街道").estate), Some("石门苑小区东区"));
        let a = at("来电人反映东城区安定门街道安德里北街15号楼二次供水", "东城区", "安定门街道");
        assert_eq!((part(&a.estate), part(&a.road)), (None, Some("安德里北街")));
        let a = at("来电人反映，东城区东四街道东四六条胡同内共享单车乱停", "东城区", "东四街道");
        assert_eq!(part(&a.road), Some("东四六条"));
        assert_eq!(part(&at("门牌是东四六条42号。", "东城区", "东四街道").road), Some("东四六条42号"));
        assert_eq!(part(&at("昨天被其中一条扑倒了，在望京", "朝阳区", "望京街道").road), None);
    }

    #[test]
    fn gates_repeats_and_national_roads() {
        assert_eq!(part(&address("我们小区南门外新桥大街边上有一棵老杨树").road), Some("新桥大街"));
        assert_eq!(part(&address("东直门外大街上有个坑").road), Some("东直门外大街"));
        assert_eq!(part(&address("就是 丰台那个清塔 清塔西路那个站").road), Some("清塔西路"));
        assert_eq!(part(&address("平原村村口108国道边有一棵大杨树").road), Some("108国道"));
        assert_eq!(part(&address("在清河社区卫生服务中心打疫苗").estate), None);
        assert_eq!(part(&address("就是希望社区协调一下，把音量调小").estate), None);
        assert_eq!(part(&address("我们反映了好几次，这种情况社区也不管").estate), None);
        assert_eq!(part(&address("我就是希望医院给个说法").landmark), None);
        assert_eq!(part(&address("小区里有一群流浪狗七八条，见人就追").road), None);
        assert_eq!(part(&address("每天有人带着两三条狗在楼下遛").road), None);
        assert_eq!(part(&address("车开到结果半路就停了").road), None);
        assert_eq!(part(&address("东四六条32号门口的下水道堵了").road), Some("东四六条32号"));
        assert_eq!(part(&address("我住昌平霍营的华龙苑中里，北门外面").estate), Some("华龙苑中里"));
        assert_eq!(part(&address("怀柔府前街边上望怀小区的垃圾三天没人清").estate), Some("望怀小区"));
    }

    #[test]
    fn a_place_the_caller_takes_back_is_not_the_place() {
        assert_eq!(part(&at("住天通北苑二区，哦不是，三区，我们是天通北苑三区。", "昌平区", "天通苑北街道").estate), Some("天通北苑三区"));
        assert_eq!(part(&at("我是丰台马家堡这块的 玉安园二里 不是 玉安园三里 那个 我们家", "丰台区", "马家堡街道").estate), Some("玉安园三里"));
        assert_eq!(part(&address("九龙路旁边的富力西苑……不对，是富华西苑，我老说错。").estate), Some("富华西苑"));
        assert_eq!(part(&address("在富力西苑，不是那个小区门口，是里面").estate), Some("富力西苑"), "a denial with no place after it takes nothing back");
    }

    #[test]
    fn estates_named_by_what_is_said_around_them() {
        assert_eq!(part(&at("那个 云景里 十五号楼 二单元 六零二 就是 楼上漏水", "通州区", "梨园镇").estate), Some("云景里"));
        assert_eq!(part(&at("那个云景里十五号楼二单元六零二", "通州区", "梨园镇").estate), Some("云景里"), "speech-to-text without spaces");
        assert_eq!(part(&at("我们小区 叫康馨园 七号楼 电提坏了", "密云区", "果园街道").estate), Some("康馨园"));
        assert_eq!(part(&at("我是房山长阳那个润泽御府的业主。", "房山区", "长阳镇").estate), Some("润泽御府"));
        assert_eq!(part(&at("坐席：这个您可以问一下村里。市民：我是南洛庄村的。", "房山区", "琉璃河镇").estate), Some("南洛庄村"));
        assert_eq!(part(&address("我住在隔壁3号楼，天天吵").estate), None);
        assert_eq!(part(&address("我住在十八层，电梯坏了").estate), None);
        let a = at("我是东城区交道口街道的，家住菊儿胡同。", "东城区", "交道口街道");
        assert_eq!((part(&a.estate), part(&a.road)), (None, Some("菊儿胡同")));
    }

    #[test]
    fn a_name_is_more_than_its_ending() {
        let a = at("我住平谷兴谷街道的兴谷家园，最近两个月小区里来了一群流浪狗", "平谷区", "兴谷街道");
        assert_eq!(part(&a.estate), Some("兴谷家园"), "两个月小区里 names no estate");
        let a = at("我是延庆香水园这边的就是庆园街那个新城家园小区我们小区里头有流浪狗", "延庆区", "香水园街道");
        assert_eq!(part(&a.estate), Some("新城家园小区"));
    }

    #[test]
    fn a_landmark_the_gazetteer_knows_needs_no_ending() {
        let known = |names: &[&str]| Location { district: Some("东城区".into()), landmarks: names.iter().map(|n| n.to_string()).collect(), ..Location::default() };
        let a = find("我在簋街吃饭，那家店的菜里有虫子", &known(&["簋街"])).unwrap();
        assert_eq!(part(&a.landmark), Some("簋街"));
        let a = find("就在宣武门那边，路灯不亮", &known(&["宣武门"])).unwrap();
        assert_eq!(part(&a.landmark), None, "a gate names an area, not a landmark");
        let a = find("从北京西站北广场打车到家", &known(&["北京西站"])).unwrap();
        assert_eq!(part(&a.landmark), Some("北京西站"));
        let a = at("房山良乡第二小学门口积水，孩子上学蹚水", "房山区", "良乡地区");
        assert_eq!(part(&a.landmark), Some("良乡第二小学"));
        let a = at("就住在东城龙潭这边，紧挨着龙潭湖公园", "东城区", "龙潭街道");
        assert_eq!(part(&a.landmark), Some("龙潭湖公园"));
    }

    #[test]
    fn no_place_no_address() {
        assert!(find("我想问一下孩子入学的事情", &Location::default()).is_none());
    }
}
