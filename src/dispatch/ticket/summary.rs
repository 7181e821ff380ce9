//! The ticket's one-line summary in the 12345 style, place + matter + request
//! (朝阳区望京西园三区楼下烧烤店油烟扰民，要求查处), built from the fields, the matter as
//! operators name it ([`super::matters`]) or else the call's key clause, and the request. No
//! generative model: every word comes from the call or from those two short lists.

use super::Ticket;
use crate::text::Keyword;

/// Longest summary, in characters.
pub const MAX_CHARS: usize = 60;

/// Speech-to-text output has no punctuation; its spaces are the caller's pauses.
const CLAUSE_END: &[char] = &['，', '。', '！', '？', '；', ',', '!', '?', ';', '\n', '：', ':', ' ', '\u{3000}'];

/// Clauses that carry no matter: greetings, the operator's lines and questions.
const NOT_MATTER: &[&str] = &["您好", "转办", "转给", "你好", "12345", "请问", "请讲", "谢谢", "好的", "稍等", "记录", "反映一下", "喂", "什么", "怎么", "吗", "哪", "电话"];

/// Words that say something is wrong: 扰民, 不热, 停水, 拖欠, 不给退.
const PROBLEM_CUES: &[&str] = &[
    "扰民", "噪音", "油烟", "太吵", "吵得", "不热", "停水", "停电", "停气", "漏水", "漏", "坏了", "损坏", "拖欠", "欠薪", "不给", "不退", "拒绝", "违建", "私搭", "占道", "占用",
    "堵", "臭", "脏", "乱", "无法", "不能", "没法", "没人管", "不管", "跑路", "失联", "停业", "倒闭", "超标", "危险", "隐患", "异味", "燃气味", "积水", "塌", "裂", "歪",
];

/// Longest matter kept, in characters: the ticket names the matter, the transcript tells it.
const MAX_MATTER_CHARS: usize = 20;

/// Words a request opens with that its summary drops: 麻烦你们帮忙协调一下 -> 要求协调.
const REQUEST_OPENERS: &[&str] = &["麻烦你们", "麻烦您", "麻烦", "我们", "我", "就是", "希望", "要求", "请求", "恳请", "请你们", "请", "能不能", "能否", "可不可以", "帮忙", "帮我们", "尽快", "赶紧", "你们", "有关部门", "相关部门"];

/// Openers a ticket drops: 我家楼下 is kept by the subject, 我们 by nobody.
const OPENERS: &[&str] = &["我要反映", "我想反映", "我反映", "我要投诉", "我想投诉", "投诉", "反映", "就是说", "就是", "那个", "这个", "然后", "而且", "现在", "我家", "我们", "咱们", "我", "嗯", "啊"];

/// Verbs a request is typed with, most specific first.
const REQUEST_VERBS: &[&str] = &[
    "查处", "取缔", "拆除", "关停", "制止", "整改", "维修", "修复", "疏通", "清理", "清运", "退款", "退费", "退钱", "赔偿", "返还", "支付", "发放", "补办", "办理", "更换", "恢复",
    "协调", "核实", "调查", "救助", "安置", "答复", "解决", "处理", "检查", "治理", "管理",
];

/// The clause that says the most: the highest summed keyword weight, among those that are not
/// greetings, the request, or only a place.
fn key_matter(text: &str, ticket: &Ticket, keywords: &[Keyword]) -> Option<String> {
    let request = ticket.request.as_ref().map(|r| r.text.as_str());
    let places = place_parts(ticket);
    // Place names say where, not what: they do not make a clause the matter.
    let telling: Vec<&Keyword> = keywords.iter().filter(|k| !places.iter().any(|p| p.contains(k.word.as_str()))).collect();
    let mut best: Option<(f64, String)> = None;
    for clause in text.split(CLAUSE_END).map(str::trim).filter(|c| c.chars().count() >= 3) {
        if NOT_MATTER.iter().any(|w| clause.contains(w)) || request.is_some_and(|r| clause.contains(r) || r.contains(clause)) {
            continue;
        }
        let mut weight: f64 = telling.iter().filter(|k| clause.contains(k.word.as_str())).map(|k| k.weight).sum();
        // A ticket states what is wrong; the clause that says so beats the one that sets the scene.
        if PROBLEM_CUES.iter().any(|c| clause.contains(c)) {
            weight += 1.0;
        }
        let what = matter(clause, &places);
        if weight > 0.0 && what.chars().count() >= 2 && best.as_ref().is_none_or(|(w, _)| weight > *w) {
            best = Some((weight, what));
        }
    }
    best.map(|(_, m)| m)
}

/// The address parts a ticket already names.
fn place_parts(ticket: &Ticket) -> Vec<String> {
    let Some(a) = &ticket.address else { return Vec::new() };
    let spans = [&a.estate, &a.road, &a.building, &a.landmark];
    a.district.iter().chain(a.street.iter()).cloned().chain(spans.into_iter().flatten().map(|s| s.text.clone())).collect()
}

/// A clause without the places the address already says and without openers.
fn matter(clause: &str, places: &[String]) -> String {
    let mut m = clause.to_string();
    for p in places {
        m = m.replace(p.as_str(), "");
    }
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
    let rest = rest.trim_end_matches(['一', '下', '吧', '啊', '呢', '了']).trim_start_matches(['，', ',']);
    if (2..=10).contains(&rest.chars().count()) && !rest.contains(['，', ',']) && REQUEST_VERBS.iter().any(|v| rest.contains(v)) {
        return Some(format!("要求{rest}"));
    }
    let verb = REQUEST_VERBS.iter().find(|v| request.text.contains(**v)).copied().unwrap_or("处理");
    Some(format!("要求{verb}"))
}

/// The summary, or None when the call says too little to write one.
pub fn compose(text: &str, ticket: &Ticket, keywords: &[Keyword]) -> Option<String> {
    let place: String = match &ticket.address {
        Some(a) => {
            let local = a.estate.as_ref().or(a.road.as_ref()).map(|s| s.text.clone()).or_else(|| a.street.clone());
            [a.district.clone(), local].into_iter().flatten().collect()
        }
        None => String::new(),
    };
    // The matter as a ticket names it; failing that, the call's own key clause.
    let mut what: String = match super::matters::named(text) {
        Some(matter) => matter.to_string(),
        None => key_matter(text, ticket, keywords).unwrap_or_default().chars().take(MAX_MATTER_CHARS).collect(),
    };
    if let Some(subject) = &ticket.subject {
        if !what.contains(subject.text.as_str()) && !place.contains(subject.text.as_str()) {
            what = format!("{}{what}", subject.text);
        }
    }
    if what.is_empty() {
        return None;
    }
    let tail = ask(ticket).map(|a| format!("，{a}")).unwrap_or_default();
    let room = MAX_CHARS.saturating_sub(place.chars().count() + tail.chars().count());
    let what: String = what.chars().take(room).collect();
    Some(format!("{place}{what}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::super::fill;
    use crate::text::{Keyword, Location};

    fn kw(words: &[(&str, f64)]) -> Vec<Keyword> {
        words.iter().map(|(w, x)| Keyword { word: w.to_string(), weight: *x }).collect()
    }

    #[test]
    fn place_matter_and_request_in_one_line() {
        let text = "您好，12345。我是朝阳区望京西园三区3号楼的，楼下烧烤店每天晚上开到两点，油烟太大了，希望你们尽快查处一下。";
        let location = Location { district: Some("朝阳区".into()), street: Some("望京街道".into()), evidence: Vec::new() };
        let t = fill(text, &location, &[], &kw(&[("油烟", 0.9), ("烧烤店", 0.8), ("望京", 1.3)]));
        assert_eq!(t.summary.as_deref(), Some("朝阳区望京西园三区楼下烧烤店油烟扰民，要求查处"));
    }

    #[test]
    fn never_longer_than_sixty_characters() {
        let text = format!("海淀区学院路38号的工地{}，要求处理", "晚上施工噪音特别大吵得人睡不着觉".repeat(6));
        let t = fill(&text, &Location { district: Some("海淀区".into()), street: None, evidence: Vec::new() }, &[], &kw(&[("噪音", 1.0)]));
        let s = t.summary.unwrap();
        assert!(s.chars().count() <= super::MAX_CHARS, "{s}");
        assert!(s.starts_with("海淀区学院路38号") && s.ends_with("，要求处理"), "{s}");
    }
}
