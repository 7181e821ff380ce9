//! The ticket's one-line summary in the 12345 style, place + matter + request
//! (朝阳区望京西园三区楼下烧烤店油烟扰民，要求查处), built from the fields, the matter ([`matter_of`]:
//! as the operator restated it to the caller, else as operators name it ([`super::matters`]), else
//! as the matter head read it from the whole call, else the call's key clause), and the request
//! (as the caller put it, else as the matter implies it: `ASKS_BY_MATTER`). No generative model:
//! every word comes from the call, from these short lists, or is a matter of the list.

use std::sync::LazyLock;

use regex::Regex;

use super::{LearnedMatter, Matter, MatterSource, Ticket};
use crate::text::Keyword;

/// Longest summary, in characters.
pub const MAX_CHARS: usize = 60;

/// Speech-to-text output has no punctuation; its spaces are the caller's pauses.
const CLAUSE_END: &[char] = &['，', '。', '！', '？', '；', ',', '!', '?', ';', '\n', '：', ':', ' ', '\u{3000}'];

/// Clauses that carry no matter: greetings, the operator's lines and questions.
const NOT_MATTER: &[&str] = &["您好", "转办", "转给", "我们转", "转相关", "转有关", "转职能", "给您答复", "告诉您", "您可以", "为准", "……", "你好", "12345", "请问", "请讲", "谢谢", "好的", "稍等", "记录", "反映一下", "喂", "什么", "怎么", "吗", "哪", "电话"];

/// Words that say something is wrong: 扰民, 不热, 停水, 拖欠, 不给退.
const PROBLEM_CUES: &[&str] = &[
    "扰民", "噪音", "油烟", "太吵", "吵得", "不热", "停水", "停电", "停气", "漏水", "漏", "坏了", "损坏", "拖欠", "欠薪", "不给", "不退", "拒绝", "违建", "私搭", "占道", "占用",
    "堵", "臭", "脏", "乱", "无法", "不能", "没法", "没人管", "不管", "跑路", "失联", "停业", "倒闭", "超标", "危险", "隐患", "异味", "燃气味", "积水", "塌", "裂", "歪",
];

/// Longest matter kept, in characters: the ticket names the matter, the transcript tells it.
const MAX_MATTER_CHARS: usize = 20;

/// Where a speech-to-text caller pauses: its punctuation is gone, and normalising drops the
/// spaces between its phrases, so a long run breaks at these words instead.
const FILLERS: &[&str] = &["那个", "就是", "嗯", "喂", "然后", "你好"];

/// What a ticket asks for when the caller asked nothing in words: the matter says it (a lift
/// out of order is to be mended, noise stopped). Every hand-written summary carries a request.
const ASKS_BY_MATTER: &[(&str, &str)] = &[
    ("扰民", "查处"), ("停水", "尽快恢复供水"), ("停电", "尽快恢复供电"), ("故障", "维修"), ("损坏", "维修"), ("不亮", "维修"), ("破损", "维修"), ("塌陷", "维修"),
    ("缺失", "维修"), ("漏水", "维修"), ("不热", "维修"), ("拖欠", "追讨"), ("预付费", "退款"), ("押金", "退还押金"), ("退费", "退款"), ("垃圾清运", "清运"),
    ("违法建设", "拆除"), ("被占用", "清理"), ("困人", "紧急救援"), ("不拴绳", "管理"), ("未通气", "尽快通气"), ("停暖", "尽快恢复供暖"), ("乱收费", "查处"), ("多收费", "查处"), ("倾倒", "查处"), ("遗撒", "查处"), ("直排", "查处"), ("占道", "查处"), ("黑车", "查处"),
];

/// Words a request opens with that its summary drops: 麻烦你们帮忙协调一下 -> 要求协调.
/// Who is sent and how soon are the caller's words too: 赶紧派人来把树处理了 -> 要求处理,
/// 给催一下赶紧恢复供水 -> 要求恢复供水.
const REQUEST_OPENERS: &[&str] = &[
    "麻烦你们", "麻烦您", "麻烦", "我们", "我", "就是", "希望", "要求", "请求", "恳请", "请你们", "请", "能不能", "能否", "可不可以", "帮忙", "帮我们", "尽快", "赶紧", "你们", "有关部门",
    "相关部门", "过来", "派人来", "派人", "找人", "来人", "来", "给催一下", "催一下", "给", "去", "一个", "个",
];

/// Openers a ticket drops: 我家楼下 is kept by the subject, 我们 by nobody, and an operator's
/// note starts with who called (市民反映), which the ticket does not repeat.
const OPENERS: &[&str] = &["市民来电反映", "市民来电称", "市民反映", "市民举报", "市民称", "来电人反映", "来电人称", "来电咨询", "来电反映", "我要反映", "我想反映", "我反映", "我要投诉", "我想投诉", "投诉", "反映", "就是说", "就是", "那个", "这个", "然后", "而且", "现在", "我家", "我们", "咱们", "我", "嗯", "啊"];

/// Words of a caller's that a ticket's request does not repeat.
const CALLERS_WORDS: &[&str] = &["我", "他", "她", "你", "这个", "那个", "或者", "能", "让", "给", "看看", "查查", "它", "这些", "把"];

/// A request put with 把 (把校车恢复了) as a ticket types it, the verb before its object: 恢复校车.
/// A pronoun or a one-character object (把它取缔, 把树处理) leaves the verb alone.
fn object_after_verb(rest: &str) -> Option<String> {
    let object_and_verb = rest.strip_prefix('把')?;
    let verb = REQUEST_VERBS.iter().find(|v| object_and_verb.ends_with(**v))?;
    let object = &object_and_verb[..object_and_verb.len() - verb.len()];
    let plain = object.chars().count() >= 2 && !CALLERS_WORDS.iter().any(|w| object.contains(w));
    Some(if plain { format!("{verb}{object}") } else { verb.to_string() })
}

/// Verbs a request is typed with, most specific first.
const REQUEST_VERBS: &[&str] = &[
    "查处", "取缔", "拆除", "关停", "制止", "整改", "维修", "修复", "疏通", "清理", "清运", "退款", "退费", "退钱", "赔偿", "返还", "支付", "发放", "补办", "办理", "更换", "恢复",
    "协调", "核实", "调查", "救助", "安置", "答复", "解决", "处理", "检查", "治理", "管理",
];

/// What a request asks for when it names none of [`REQUEST_VERBS`], as a ticket types it:
/// 把工钱要回来 is 要求追讨, 能不能帮我问问 is 要求答复.
const REQUEST_CUES: &[(&str, &str)] = &[
    ("停工", "停工"), ("拖走", "清拖"), ("要回", "追讨"), ("追回", "追讨"), ("追款", "追讨"), ("退", "退款"), ("赔", "赔偿"), ("拆", "拆除"),
    ("修", "维修"), ("查", "核查"), ("清理", "清理"), ("清走", "清理"), ("清一下", "清理"), ("通知", "协助通知"), ("寻人", "协助寻人"), ("问", "答复"), ("告诉", "答复"),
    ("说明", "答复"),
];

/// Bodies that handle many matters: named alone, they are who the caller turned to, not what
/// the matter is about (物业 in 找过物业), so the summary does not put them before the matter.
/// Companies named by their trade are found by [`handler`], not listed.
const HANDLERS: &[&str] = &["物业", "供电所", "房管所", "居委会", "村委会", "社区", "商场", "开发商"];

/// Whether a subject is a handler: one of [`HANDLERS`], or a company named by its trade alone
/// (燃气公司, 单车公司, a slip of one: 燃汽公司, or a city-wide trade: 北京燃气公司). A proper name
/// (金辉建筑劳务公司) is no handler.
fn handler(subject: &str) -> bool {
    // 得等供电所 and 督促热力公司 are a handler with the caller's words stuck to its front.
    HANDLERS.iter().any(|h| subject.ends_with(h))
        || subject.strip_suffix("公司").is_some_and(|trade| trade.chars().count() <= 3 || TRADES.iter().any(|t| trade.ends_with(t)))
}

/// Trades whose companies serve a whole city: 北京燃气公司 is who the caller turned to.
const TRADES: &[&str] = &["燃气", "热力", "供电", "电力", "自来水", "供水", "公交", "地铁", "快递", "电信", "移动", "联通"];

/// A subject as a summary may lead with it: a proper name or a plain noun, without the count
/// a caller put before it (棵大杨树, 约二十盏路灯).
fn leading_subject<'a>(subject: &'a str, places: &[String]) -> Option<&'a str> {
    // 一路公交车 is "a bus", no route.
    let subject = subject.strip_prefix("一路").unwrap_or(subject);
    let count = subject.trim_start_matches('约').trim_start_matches(|c: char| "一二两三四五六七八九十几好多".contains(c) || c.is_ascii_digit());
    // After a count any measure word goes (七八根路灯); alone only those no name starts with
    // (棵大杨树, but 家乐福超市).
    let plain = match count.len() < subject.len() {
        true => count.strip_prefix(CLASSIFIERS).unwrap_or(subject),
        false => count.strip_prefix(['棵', '盏', '根']).unwrap_or(count),
    };
    let clause_like = plain.chars().count() > 10 || ["开始", "依靠", "主要", "今年", "去年", "原来", "请问", "不敢"].iter().any(|w| plain.contains(w));
    // 房山窦店 and 前门街道草厂 are places, which the summary already says.
    let a_place = places.iter().any(|p| p.chars().count() >= 2 && plain.contains(p.as_str()));
    (plain.chars().count() >= 2 && !handler(plain) && !clause_like && !a_place).then_some(plain)
}

/// Measure words between a count and its noun: 一棵大杨树, 七八根路灯. Not 路: 892路公交车 keeps
/// its number.
const CLASSIFIERS: &[char] = &['棵', '盏', '辆', '家', '座', '个', '根', '台', '只', '条', '间', '颗'];

/// The subject and the matter in one phrase, without saying a word twice: 顺安驾校 and
/// 驾校服务纠纷 make 顺安驾校服务纠纷, 大杨树 and 树木倾斜隐患 大杨树倾斜隐患; a bare noun the matter
/// already names goes (公交车 before 公交运营问题).
fn with_subject(subject: &str, matter: &str) -> String {
    if matter.contains(subject) {
        return matter.to_string();
    }
    // The longest end of the subject that the matter starts with: 楼下烧烤店 + 烧烤店油烟扰民.
    let (subject_chars, matter_chars) = (subject.chars().count(), matter.chars().count());
    if let Some((_, rest)) = overlaps(subject, matter).find(|&(k, _)| k < subject_chars.min(matter_chars) && (k >= 2 || matter_chars > 2)) {
        return format!("{subject}{}", rest.trim_start_matches('木'));
    }
    let head: String = matter.chars().take(2).collect();
    if subject.chars().count() <= 3 && head.chars().count() == 2 && subject.contains(head.as_str()) {
        return matter.to_string();
    }
    format!("{subject}{matter}")
}

/// The matter without the words the place ends with: 小橡树幼儿园 and 幼儿园拒不退费 make
/// 小橡树幼儿园拒不退费, 模式口大街 and 大街东段路灯不亮 模式口大街东段路灯不亮.
fn after_place<'a>(place: &str, matter: &'a str) -> &'a str {
    overlaps(place, matter).find(|&(k, rest)| k >= 2 && rest.chars().count() >= 2).map_or(matter, |(_, rest)| rest)
}

/// Each `k` characters, longest first, that `left` ends with and `right` starts with, and what
/// is left of `right` after them: one phrase said after another says their shared words once.
fn overlaps<'a>(left: &str, right: &'a str) -> impl Iterator<Item = (usize, &'a str)> {
    let left: Vec<char> = left.chars().collect();
    (1..=left.len()).rev().filter_map(move |k| {
        let tail: String = left[left.len() - k..].iter().collect();
        right.strip_prefix(tail.as_str()).map(|rest| (k, rest))
    })
}

/// An operator restates the matter to confirm it (您反映的是小区燃气配套未通的问题): that is the
/// matter in an operator's own words.
static RESTATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"您(?:是)?(?:要|想)?(?:反映|反应|举报|投诉|咨询)(?:的)?(?:是)?(?:关于)?([^。？！?!，,]{3,30}?)(?:的问题|问题|的情况|的事情|的事|是吧|对吧|对吗)").expect("restatement pattern")
});

/// The operator's last restatement: in a long call the first guess (就医方面的问题) is often
/// corrected once the caller has told the matter.
fn restated_matter(text: &str) -> Option<String> {
    let mut found: Vec<(usize, String)> = RESTATED
        .captures_iter(text)
        .filter_map(|c| c.get(1).map(|m| (m.start(), m.as_str().trim_end_matches('是').to_string())))
        .filter(|(_, m)| !["什么", "哪", "吗", "怎么", "这个", "那个", "方面"].iter().any(|w| m.contains(w)))
        .collect();
    found.sort_by_key(|(at, _)| *at);
    found.pop().map(|(_, m)| m)
}

/// A matter without the place names the summary already starts with.
fn without_places(matter: &str, places: &[String]) -> String {
    let mut m = matter.to_string();
    for p in places {
        m = m.replace(p.as_str(), "");
    }
    m.trim_start_matches(['的', '在', '，']).to_string()
}

/// Who a call of praise praises: what follows 表扬 in its clause (我想表扬一下平谷滨河那边的文化馆).
fn praised(text: &str) -> Option<String> {
    let at = text.find("表扬")? + "表扬".len();
    let rest = text[at..].trim_start_matches("一下").trim_start_matches("我们").trim_start_matches(['个', '咱']);
    let clause: String = rest.chars().take_while(|c| !CLAUSE_END.contains(c)).take(MAX_MATTER_CHARS).collect();
    (clause.chars().count() >= 2).then_some(clause)
}

/// The clause that says the most: the highest summed keyword weight, among those that are not
/// greetings, the request, or only a place.
fn key_matter(text: &str, ticket: &Ticket, keywords: &[Keyword]) -> Option<String> {
    let request = ticket.request.as_ref().map(|r| r.text.as_str());
    let places = place_parts(ticket);
    // Place names say where, not what: they do not make a clause the matter.
    let telling: Vec<&Keyword> = keywords.iter().filter(|k| !places.iter().any(|p| p.contains(k.word.as_str()))).collect();
    let mut best: Option<(f64, String)> = None;
    for clause in clauses(text).into_iter().map(str::trim).filter(|c| c.chars().count() >= 3) {
        if NOT_MATTER.iter().any(|w| clause.contains(w)) || request.is_some_and(|r| clause.contains(r) || r.contains(clause)) {
            continue;
        }
        let mut weight: f64 = telling.iter().filter(|k| clause.contains(k.word.as_str())).map(|k| k.weight).sum();
        // A ticket states what is wrong; the clause that says so beats the one that sets the scene.
        if PROBLEM_CUES.iter().any(|c| clause.contains(c)) {
            weight += 1.0;
        }
        let what = matter(clause, &places);
        // Another ask (能不能帮我问问) or an instruction to the caller (不要开关电器) says no matter.
        if super::phrases::ASKS.iter().chain(super::phrases::INSTRUCTIONS).any(|a| what.starts_with(a)) {
            continue;
        }
        if weight > 0.0 && what.chars().count() >= 2 && best.as_ref().is_none_or(|(w, _)| weight > *w) {
            best = Some((weight, what));
        }
    }
    best.map(|(_, m)| m)
}

/// A text's clauses: split at punctuation, and a run longer than a matter (speech-to-text has
/// none) at the caller's fillers too.
fn clauses(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for piece in text.split(CLAUSE_END) {
        if piece.chars().count() <= MAX_MATTER_CHARS {
            out.push(piece);
            continue;
        }
        let (mut start, mut at) = (0, 0);
        while let Some(c) = piece[at..].chars().next() {
            match FILLERS.iter().find(|f| piece[at..].starts_with(**f)) {
                Some(f) => {
                    out.push(&piece[start..at]);
                    at += f.len();
                    start = at;
                }
                None => at += c.len_utf8(),
            }
        }
        out.push(&piece[start..]);
    }
    out
}

/// The address parts a ticket already names.
fn place_parts(ticket: &Ticket) -> Vec<String> {
    let Some(a) = &ticket.address else { return Vec::new() };
    let spans = [&a.estate, &a.road, &a.building, &a.landmark];
    a.district.iter().chain(a.street.iter()).cloned().chain(spans.into_iter().flatten().map(|s| s.text.clone())).collect()
}

/// A clause without the places the address already says and without openers.
fn matter(clause: &str, places: &[String]) -> String {
    let mut m = without_places(clause, places);
    loop {
        let trimmed = m.trim_start_matches(['的', '在', '是', '，', ' ']);
        match OPENERS.iter().find(|o| trimmed.starts_with(**o)) {
            Some(o) => m = trimmed[o.len()..].to_string(),
            None => {
                m = trimmed.to_string();
                break;
            }
        }
    }
    m.trim_end_matches(['了', '啊', '呢', '吧', '呀', '的']).to_string()
}

/// The request as a ticket puts it: `要求` and the ask itself when it is short (要求退货退款),
/// else `要求` + its verb, or `要求处理` for a request with none of them.
fn ask(ticket: &Ticket) -> Option<String> {
    let request = ticket.request.as_ref()?;
    let mut rest = request.text.as_str();
    while let Some(o) = REQUEST_OPENERS.iter().find(|o| rest.starts_with(**o)) {
        rest = &rest[o.len()..];
    }
    let trimmed = rest.trim_end_matches(['一', '下', '吧', '啊', '呢', '了']).trim_start_matches(['，', ',']);
    // How soon and how briefly are said, not typed: 协调尽快支付 -> 协调支付, 检查一下食堂 -> 检查食堂.
    let rest = ["一下", "尽快", "赶紧"].iter().fold(trimmed.to_string(), |r, w| r.replace(w, ""));
    if let Some(put) = object_after_verb(&rest) {
        return Some(format!("要求{put}"));
    }
    // The caller's own words (帮我协调退款, 让他停工拆除) are typed as the verb alone.
    let callers_words = CALLERS_WORDS.iter().any(|w| rest.contains(w));
    if (2..=10).contains(&rest.chars().count()) && !rest.contains(['，', ',']) && !callers_words && REQUEST_VERBS.iter().any(|v| rest.contains(v)) {
        return Some(format!("要求{rest}"));
    }
    let verb = REQUEST_VERBS.iter().find(|v| request.text.contains(**v)).copied();
    let verb = verb.or_else(|| REQUEST_CUES.iter().find(|(cue, _)| request.text.contains(cue)).map(|(_, v)| *v)).unwrap_or("处理");
    Some(format!("要求{verb}"))
}

/// A learned matter below this probability is not used. Chosen from a cross-validation on the
/// ticket sets (docs/tickets.md, "The matter head"): a classifier of the same kind named the
/// writers' matter nine times in ten above it on the calls the list missed.
pub const MIN_LEARNED_SCORE: f32 = 0.3;

/// The call's matter: as the operator restated it to the caller; else as a ticket names it from
/// the words the call says; else as the matter head read it from the whole call; failing all,
/// the call's own key clause. `caller` is the caller's words only (the whole text when no
/// operator speaks): the operator's questions (您的诉求是) are no matter, though the operator's
/// restatement is read from `text`.
pub fn matter_of(text: &str, caller: &str, ticket: &Ticket, keywords: &[Keyword], learned: Option<&LearnedMatter>) -> Option<Matter> {
    let places = place_parts(ticket);
    let found = |name: String, source: MatterSource| Some(Matter { name, source, score: None });
    if let Some(m) = restated_matter(text).map(|m| without_places(&m, &places)).filter(|m| m.chars().count() >= 3) {
        return found(m, MatterSource::Restated);
    }
    if let Some(m) = super::matters::named(caller) {
        return found(m.to_string(), MatterSource::Listed);
    }
    if let Some(l) = learned.filter(|l| l.score >= MIN_LEARNED_SCORE) {
        return Some(Matter { name: l.name.clone(), source: MatterSource::Learned, score: Some(l.score) });
    }
    let clause: String = key_matter(caller, ticket, keywords)?.chars().take(MAX_MATTER_CHARS).collect();
    found(clause, MatterSource::Clause)
}

/// The summary, or None when the call says too little to write one, from the ticket's fields and
/// its matter ([`matter_of`]).
pub fn compose(caller: &str, ticket: &Ticket, appeal: Option<&str>) -> Option<String> {
    let place: String = match &ticket.address {
        Some(a) => {
            // The most specific place said: a named park or mall beats the street it is in.
            let local = a.estate.as_ref().or(a.road.as_ref()).or(a.landmark.as_ref()).map(|s| s.text.clone()).or_else(|| a.street.clone());
            [a.district.clone(), local].into_iter().flatten().collect()
        }
        None => String::new(),
    };
    let places = place_parts(ticket);
    let mut what: String = ticket.matter.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    let short_places: Vec<String> = places.iter().map(|p| super::address::short_name(p).to_string()).collect();
    if let Some(subject) = ticket.subject.as_ref().and_then(|s| leading_subject(&s.text, &short_places)) {
        if !place.contains(subject) {
            what = with_subject(subject, &what);
        }
    }
    // A call whose matter could not be named is still about its subject (然气公司).
    if what.is_empty() {
        what = ticket.subject.as_ref().map(|s| s.text.clone()).unwrap_or_default();
    }
    if what.is_empty() {
        return None;
    }
    let mut what = after_place(&place, &what).to_string();
    // An enquiry or praise that asks nothing is left without a request.
    let asks_something = !matches!(appeal, Some("consultation" | "praise"));
    let by_matter = || ASKS_BY_MATTER.iter().find(|(m, _)| what.contains(m)).map_or("处理", |(_, verb)| verb);
    let asked = ask(ticket).or_else(|| asks_something.then(|| format!("要求{}", by_matter())));
    let mut tail = asked.map(|a| format!("，{a}")).unwrap_or_default();
    match appeal {
        // An enquiry asks, it does not demand: 咨询子女入学, with no 要求处理 after it.
        Some("consultation") => {
            if !what.contains("咨询") {
                what = format!("咨询{what}");
            }
            if tail == "，要求处理" || tail.ends_with("答复") {
                tail.clear();
            }
        }
        // Praise names who is praised, not the trouble they fixed.
        Some("praise") => {
            if let Some(praised) = praised(caller) {
                what = format!("表扬{praised}");
                tail.clear();
            }
        }
        _ => {}
    }
    let room = MAX_CHARS.saturating_sub(place.chars().count() + tail.chars().count());
    let what: String = what.chars().take(room).collect();
    Some(format!("{place}{what}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::super::{fill, LearnedMatter, MatterSource, Ticket};
    use crate::text::{Keyword, Location};

    fn kw(words: &[(&str, f64)]) -> Vec<Keyword> {
        words.iter().map(|(w, x)| Keyword { word: w.to_string(), weight: *x }).collect()
    }

    #[test]
    fn place_matter_and_request_in_one_line() {
        let text = "您好，12345。我是朝阳区望京西园三区3号楼的，楼下烧烤店每天晚上开到两点，油烟太大了，希望你们尽快查处一下。";
        let location = Location { district: Some("朝阳区".into()), street: Some("望京街道".into()), ..Location::default() };
        let t = fill(text, &[], &location, &[], &kw(&[("油烟", 0.9), ("烧烤店", 0.8), ("望京", 1.3)]), None, None);
        assert_eq!(t.summary.as_deref(), Some("朝阳区望京西园三区楼下烧烤店油烟扰民，要求查处"));
    }

    #[test]
    fn subject_and_matter_say_each_word_once() {
        assert_eq!(super::with_subject("顺安驾校", "驾校服务纠纷"), "顺安驾校服务纠纷");
        assert_eq!(super::with_subject("大杨树", "树木倾斜隐患"), "大杨树倾斜隐患");
        assert_eq!(super::with_subject("公交车", "公交运营问题"), "公交运营问题");
        assert_eq!(super::with_subject("福寿康养老院", "养老服务问题"), "福寿康养老院养老服务问题");
        assert_eq!(super::with_subject("楼下烧烤店", "烧烤店油烟扰民"), "楼下烧烤店油烟扰民");
        assert_eq!(super::after_place("海淀区小橡树幼儿园", "幼儿园拒不退费"), "拒不退费");
        assert_eq!(super::after_place("石景山区模式口大街", "大街东段路灯不亮"), "东段路灯不亮");
        assert_eq!(super::after_place("朝阳区望京西园三区", "楼下烧烤店油烟扰民"), "楼下烧烤店油烟扰民");
        assert_eq!(super::after_place("通州区中仓小区", "小区停水"), "停水");
        assert_eq!(super::after_place("朝阳区小天鹅幼儿园", "幼儿园"), "幼儿园", "a matter is never cut below two characters");
        assert_eq!(super::leading_subject("七八根路灯", &[]), Some("路灯"));
        assert_eq!(super::leading_subject("八达岭长城停车场", &[]), Some("八达岭长城停车场"));
        assert_eq!(super::leading_subject("物业", &[]), None, "who the caller turned to is not the matter");
        assert_eq!(super::leading_subject("燃汽公司", &[]), None, "a company named by its trade is who was called");
        assert_eq!(super::leading_subject("金辉建筑劳务公司", &[]), Some("金辉建筑劳务公司"));
        assert_eq!(super::leading_subject("得等供电所", &[]), None, "a handler with the caller's words before it");
        assert_eq!(super::leading_subject("督促热力公司", &[]), None);
        assert_eq!(super::leading_subject("一路公交车", &[]), Some("公交车"));
        assert_eq!(super::leading_subject("892路公交车", &[]), Some("892路公交车"), "a route keeps its number");
    }

    #[test]
    fn the_operators_restatement_names_the_matter() {
        assert_eq!(super::restated_matter("好的，您反映的是小区燃气配套未通的问题，我们转相关部门。").as_deref(), Some("小区燃气配套未通"));
        assert_eq!(super::restated_matter("您是想咨询门店牌匾标识设置规范是吧？").as_deref(), Some("门店牌匾标识设置规范"));
        assert_eq!(super::restated_matter("您反映的是什么问题？"), None, "a question is no restatement");
        let late = "您是想咨询医保报销的问题吗？……好的，您反映的是检查费退费难的问题，我们转医院。";
        assert_eq!(super::restated_matter(late).as_deref(), Some("检查费退费难"), "the last restatement, not the first guess");
    }

    #[test]
    fn an_enquiry_asks_and_praise_names_who_is_praised() {
        let location = Location { district: Some("平谷区".into()), street: None, ..Location::default() };
        let t = fill("我想表扬一下平谷滨河那边的文化馆，王老师教得特别有耐心。", &[], &location, &[], &kw(&[("文化馆", 1.0)]), Some("praise"), None);
        assert_eq!(t.summary.as_deref(), Some("平谷区表扬平谷滨河那边的文化馆"));
        let t = fill("我想问一下，孩子明年上小学，入学应该在哪个区报名？能不能告诉我。", &[], &location, &[], &kw(&[("入学", 1.0)]), Some("consultation"), None);
        assert_eq!(t.summary.as_deref(), Some("平谷区咨询子女入学"), "{:?}", t.summary);
    }

    #[test]
    fn another_ask_or_an_instruction_is_no_matter() {
        let location = Location { district: Some("怀柔区".into()), street: None, ..Location::default() };
        let text = "小区门口有根废弃的水泥电线杆，别这么乱挂着，能不能派人来拆了。";
        let t = fill(text, &[], &location, &[], &kw(&[("电线杆", 1.0), ("乱挂", 1.5)]), None, None);
        let s = t.summary.unwrap();
        assert!(s.contains("水泥电线杆") && !s.contains("别这么"), "{s}");
    }

    #[test]
    fn speech_to_text_breaks_at_fillers_and_a_matter_asks_by_itself() {
        let location = Location { district: Some("丰台区".into()), street: None, ..Location::default() };
        // Normalising drops the spaces between the phrases: the fillers are the pauses left.
        let text = "喂你好那个我是六里桥这边的就是我们小区那个垃圾桶天天满出来没人清嗯臭得不行";
        let t = fill(text, &[], &location, &[], &kw(&[("垃圾桶", 1.0), ("六里桥", 1.2)]), None, None);
        assert_eq!(t.summary.as_deref(), Some("丰台区垃圾清运不及时，要求清运"), "{:?}", t.summary);
        assert_eq!(super::clauses("喂你好那个我们楼道里的灯坏了好几天了就是一直没人来修"), vec!["", "", "", "我们楼道里的灯坏了好几天了", "一直没人来修"]);
        let t = fill("我们楼的电梯坏了三天了，老人上不去楼。", &[], &location, &[], &kw(&[("电梯", 1.0)]), None, None);
        assert_eq!(t.summary.as_deref(), Some("丰台区电梯故障，要求维修"), "{:?}", t.summary);
    }

    #[test]
    fn the_matter_head_names_what_the_list_does_not() {
        let location = Location { district: Some("通州区".into()), street: None, ..Location::default() };
        let text = "我家楼下那个小卖部，每天晚上往路边堆纸箱子，人都过不去。";
        let learned = |score| LearnedMatter { name: "占道经营".into(), score };
        let t = fill(text, &[], &location, &[], &kw(&[("纸箱子", 1.0)]), None, Some(&learned(0.8)));
        let m = t.matter.unwrap();
        assert_eq!((m.name.as_str(), m.source), ("占道经营", MatterSource::Learned));
        assert!(t.summary.unwrap().contains("占道经营"));
        let t = fill(text, &[], &location, &[], &kw(&[("纸箱子", 1.0)]), None, Some(&learned(0.1)));
        assert_eq!(t.matter.unwrap().source, MatterSource::Clause, "a guess below the bar is not used");
        // Where the call says a listed matter's words, the list names it.
        let t = fill("楼下烧烤店油烟太大了", &[], &location, &[], &kw(&[("油烟", 1.0)]), None, Some(&learned(0.9)));
        assert_eq!(t.matter.unwrap().source, MatterSource::Listed);
    }

    #[test]
    fn a_request_is_typed_without_the_callers_words() {
        let asked = |request: &str| {
            let ticket = Ticket { request: Some(super::super::Span { text: request.into(), start: 0, end: request.len() }), ..Ticket::default() };
            super::ask(&ticket).unwrap()
        };
        assert_eq!(asked("给催一下赶紧恢复供水"), "要求恢复供水");
        assert_eq!(asked("尽快把校车恢复了"), "要求恢复校车");
        assert_eq!(asked("赶紧来人把管子疏通了"), "要求疏通管子");
        assert_eq!(asked("把它取缔了"), "要求取缔");
        assert_eq!(asked("赶紧派人来把树处理了"), "要求处理");
        assert_eq!(asked("去检查一下食堂"), "要求检查食堂");
        assert_eq!(asked("尽快来人拆除"), "要求拆除");
        assert_eq!(asked("来给看看检查一下水质"), "要求检查");
        assert_eq!(asked("退货退款"), "要求退货退款");
        assert_eq!(asked("给个明确答复"), "要求明确答复");
        assert_eq!(asked("赶紧来人清理一下把倒垃圾的人抓住"), "要求清理", "two asks are typed as the first verb");
        assert_eq!(asked("协调尽快支付"), "要求协调支付");
    }

    #[test]
    fn never_longer_than_sixty_characters() {
        let text = format!("海淀区学院路38号的工地{}，要求处理", "晚上施工噪音特别大吵得人睡不着觉".repeat(6));
        let t = fill(&text, &[], &Location { district: Some("海淀区".into()), street: None, ..Location::default() }, &[], &kw(&[("噪音", 1.0)]), None, None);
        let s = t.summary.unwrap();
        assert!(s.chars().count() <= super::MAX_CHARS, "{s}");
        assert!(s.starts_with("海淀区学院路38号") && s.ends_with("，要求处理"), "{s}");
    }
}
