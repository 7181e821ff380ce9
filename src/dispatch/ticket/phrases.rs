//! The ticket's phrases: when, about whom or what, what is asked, sums, people and who needs care.
//! Each is a pattern over the masked text; the first or the best match is kept, verbatim.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{Span, Vulnerable};
use crate::text::sites::name_start;
use crate::text::Speaker;

/// Numerals as callers say them: digits or Chinese, with 两, 几 and 半.
const NUM: &str = r"[0-9一二三四五六七八九十百千两几半]";

/// Clause ends: a phrase never runs past them.
const CLAUSE_END: &[char] = &['，', '。', '！', '？', '；', ',', '!', '?', ';', '\n'];

static WHEN_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let time_of_day = "早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间|半夜|深夜|凌晨";
    [
        // How often, and at what time: 每天晚上十一点以后, 天天夜里, 每天中午十一点到晚上九点.
        format!(r"(?:每天|每晚|每天晚上|天天|每周[一二三四五六日天末]?|每个周末|每到|一到|经常|总是)(?:{time_of_day})?(?:{NUM}{{1,3}}点(?:半|多|钟)?)?(?:以后|之后|以前|之前|左右|开始|到(?:{time_of_day})?{NUM}{{1,3}}点(?:半|多)?)?"),
        // A clock time in a part of the day: 晚上十点多, 凌晨两点到四点.
        format!(r"(?:今天|昨天|前天|今晚|昨晚)?(?:{time_of_day}){NUM}{{1,3}}点(?:半|多|钟)?(?:以后|之后|以前|之前|左右|到{NUM}{{1,3}}点(?:半|多)?)?"),
        // A date: 2026年3月5日, 十月八号, 上周三下午.
        format!(r"(?:[0-9]{{4}}年)?{NUM}{{1,2}}月(?:份|{NUM}{{1,3}}[日号])?(?:{time_of_day})?"),
        format!(r"(?:上周|上个?星期|这周|本周|上个?礼拜)[一二三四五六日天末](?:{time_of_day})?"),
        // Since when: 从去年十月开始, 从上个礼拜开始, 自11月20日起.
        format!(r"(?:从|自)(?:今年|去年|前年|上个?月|上周|上个?礼拜|上个?星期|本月|这个月初?|月初|本周|年初|年前|春节|昨天|前天|{NUM}{{1,2}}月|[0-9]{{1,2}}月)(?:[^，。！？；,]{{0,8}}?(?:开始|以来|起|到现在))?"),
        // Lately: 近两天, 这几天, 最近一个月.
        format!(r"(?:近|这|最近)(?:{NUM}|个)?{{1,2}}(?:天|周|个月|礼拜|星期)"),
        // A relative day: 昨天下午, 刚才, 今天早上.
        format!(r"(?:今天|昨天|前天|今晚|昨晚|今早|刚才|刚刚|前几天|上周|上个月|上周末|去年|今年)(?:{time_of_day})?"),
        // How long: 三个月了, 半年多, 一个多星期.
        format!(r"小?{NUM}{{1,3}}(?:个)?多?(?:天|周|星期|个月|月|年)(?:多)?了"),
    ]
    .iter()
    .map(|p| Regex::new(p).expect("time pattern"))
    .collect()
});

/// When it happened, how often, or since when: the longest time phrase of the call (the first
/// of equals), since a fuller phrase says more (天天 < 每天夜里十二点以后).
pub fn when(text: &str) -> Option<Span> {
    WHEN_PATTERNS
        .iter()
        .flat_map(|re| re.find_iter(text))
        .filter(|m| m.as_str().chars().count() >= 2)
        .max_by_key(|m| (m.as_str().chars().count(), std::cmp::Reverse(m.start())))
        .map(|m| Span::of(text, m.start(), m.end()))
}

/// Endings of what a call is about: businesses, managers, projects, facilities.
const SUBJECT_ENDINGS: &str = "物业公司|物业|开发商|公司|烧烤店|饭店|饭馆|菜馆|餐馆|餐厅|客栈|民宿|宾馆|旅馆|超市|健身房|培训机构|培训班|托管班|机构|工地|项目|工厂|厂|店|驾校|诊所|药店|网吧|酒吧|KTV|美容院|养老院|敬老院|卫生院|幼儿园|医院|学校|垃圾站|菜市场|市场|商场|停车场|中介|平台|商家|网店|快递|加油站|充电桩|电梯|锅炉房|配电室|房管所|电器|车行|物流|驿站|合作社|供水站|供电所|大棚|[0-9]{1,3}路公交车|[0-9]{1,3}路|公交车|路灯|杨树|柳树|槐树|大树";

/// Verbs in front of a subject that are not part of its name: 已联系燃气公司, 要求物业.
const SUBJECT_VERBS: &[&str] = &["已经联系", "已联系", "联系了", "联系过", "联系", "找了", "找过", "打给", "打电话给", "问了", "问过", "要求", "希望", "告诉", "投诉", "举报", "反映", "通知"];

/// Places in front of a subject that an operator keeps: 楼下烧烤店, 隔壁工地.
const LOCATIVES: &[&str] = &["楼下", "楼上", "隔壁", "对面", "门口", "小区门口", "路边", "附近"];

static SUBJECT: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"([\p{{Han}}A-Za-z0-9]{{0,8}}?)(?:{SUBJECT_ENDINGS})")).expect("subject pattern"));

/// Cut a subject's name back to where it starts.
const SUBJECT_BOUNDARY: &[char] = &[
    '在', '住', '的', '是', '了', '我', '们', '和', '与', '到', '从', '对', '于', '个', '该', '这', '那', '有', '说', '就', '也', '都', '还', '嗯', '啊', '呢', '吧',
    '去', '给', '被', '把', '向', '找', '让', '跟', '叫', '归', '家', '区', '市', '镇', '乡', '号', '楼', '下', '上', '旁', '边', '近', '壁', '面',
    // 我们村离学校十几里: how far from the school, not a school named 村离.
    '离',
];

/// A subject's ending that is part of another word with the character after it: 开学校车 is 开学
/// and 校车, no school; 督促厂家 is the maker, not a factory named 督促.
const ENDING_IN_ANOTHER_WORD: &[(&str, char)] = &[("学校", '车'), ("厂", '家')];

/// Words a subject's name never starts with: 时候学校, 结果学校 are the school.
const NOT_SUBJECT_STARTS: &[&str] = &["问题", "时候", "结果", "证明", "然后", "后来", "现在", "这个", "那个", "一个", "没散", "门口", "打"];

/// Words that end like a subject but are none: 商店 alone, 这家店.
const NOT_SUBJECTS: &[&str] = &["店", "公司", "物业", "机构", "项目", "工地", "医院", "学校", "市场", "商家", "平台", "厂", "电梯", "快递", "中介", "电器", "车行", "民宿"];

/// The business, manager, project or facility the call is about: the first one named that is
/// not one of the call's `places` (高米店 is a town, not a shop).
pub fn subject(text: &str, places: &[String]) -> Option<Span> {
    for m in SUBJECT.captures_iter(text) {
        let (whole, name) = (m.get(0)?, m.get(1)?);
        let mut start = name_start(text, name.range(), SUBJECT_BOUNDARY, NOT_SUBJECT_STARTS);
        // A one-character remnant (级公司, 房工地) is a cut word, not a name.
        if text[start..name.end()].chars().count() == 1 {
            start = name.end();
        }
        let start = match SUBJECT_VERBS.iter().filter_map(|v| text[start..whole.end()].find(v).map(|i| start + i + v.len())).max() {
            Some(after) if after < whole.end() => after,
            _ => start,
        };
        let found = &text[start..whole.end()];
        let after = &text[whole.end()..];
        if ENDING_IN_ANOTHER_WORD.iter().any(|(ending, next)| found.ends_with(ending) && after.starts_with(*next)) {
            continue;
        }
        if places.iter().any(|p| p == found || p.ends_with(found)) {
            continue;
        }
        // 不要开关电器 is the operator's advice and 您打过燃气公司 the operator's question, not a shop.
        if found.starts_with('您') || INSTRUCTIONS.iter().any(|w| found.starts_with(w)) {
            continue;
        }
        // A bare 物业 or 公司 is still what the call is about, when nothing more is said.
        if NOT_SUBJECTS.contains(&found) && !matches!(found, "物业" | "物业公司" | "开发商") {
            continue;
        }
        let start = LOCATIVES.iter().filter(|l| text[..start].ends_with(**l)).map(|l| start - l.len()).min().unwrap_or(start);
        return Some(Span::of(text, start, whole.end()));
    }
    None
}

/// What an operator tells a caller to do: neither a matter nor a subject of the call.
pub(super) const INSTRUCTIONS: &[&str] = &["不要", "别", "请您", "您先", "请不要", "注意"];

/// Words that open what a caller asks for.
pub(super) const ASKS: &[&str] = &[
    "希望", "要求", "请求", "恳请", "恳求", "麻烦你们", "麻烦您", "麻烦", "请你们", "请有关部门", "请相关部门", "能不能", "能否", "可不可以", "想让", "想请", "帮忙", "帮我们", "帮帮",
    "给个说法", "尽快", "求求", "想申请", "想咨询", "想问问", "你们赶紧", "你们得管", "你们快", "赶紧派人",
    // Chosen on the ticket dev sets (docs/tickets.md, seventh round): asks that name no 希望.
    "帮我", "帮着", "赶紧来", "赶紧找人", "赶紧安排", "想要", "请城管", "请执法", "请环保", "请园林", "请交警",
    // Chosen on `tickets_test13` (fourteenth session): a 请 that opens an ask to a body, and a
    // caller's 你们给 (催催, 问问, 查查).
    "请镇里", "请街道", "请社区", "请物业", "请村里", "请区里", "请政府", "请再", "请赶紧", "请尽快", "请派人", "你们给",
];

/// Operators ask too; their questions are not the caller's request.
const OPERATOR_ASKS: &[&str] = &["请问", "您看", "您的诉求", "有什么诉求", "您还有", "您希望", "您要求", "您需要", "您想", "转办", "转给", "我们会", "登记", "记录下来", "反映给"];

/// A request ends before the caller's contact details.
const REQUEST_STOPS: &[&str] = &["[电话]", "[身份证号]", "我电话", "我的电话", "电话是", "联系方式", "手机号"];

/// Words that carry a request on into the next clause: 希望你们来看看，给解决一下.
const GOES_ON: &[&str] = &["解决", "处理", "查处", "帮", "给", "一下", "尽快", "赶紧", "来看", "退", "赔", "整改", "维修", "拆除"];

/// Openings of a clause that asks for more: 把消防通道清出来，设上隔离桩; 赶紧抢修，先派个送水车.
const GOES_ON_OPENINGS: &[&str] = &["让", "把", "再", "先", "也", "别", "或者", "实在不行", "以后", "该", "要么", "并"];

/// What opens a request without being the ask, dropped from its start: who asks (我们, 就想),
/// the ask word (希望, 麻烦你们, 请), and whom it is addressed to when that is no one in
/// particular (有关部门, 你们). The ticket's 诉求 is the action asked for: 尽快派人把路灯修好, not
/// 请你们尽快派人把路灯修好 (the convention of the ticket writers' brief since `tickets_test5`).
const WHO_ASKS: &[&str] = &["我们就是", "我们", "我就是", "我就", "我也", "我", "就是", "就", "那个", "还是"];
const ASK_WORDS: &[&str] = &[
    "希望", "要求", "请求", "恳请", "恳求", "麻烦你们", "麻烦您", "麻烦", "请你们", "请您", "请", "求求你们", "求求", "求你们", "想让你们", "想请", "想让",
];
const ADDRESSEES: &[&str] = &["有关部门", "相关部门", "上级部门", "你们", "您", "政府", "上面", "上级", "领导", "12345"];

/// An office named as the one asked, before what it is asked to do: 希望公交集团尽快调整发车间隔,
/// 请市场监管部门去查查他们后厨. Only dropped after an ask word (督促物业 keeps its 物业).
static NAMED_ADDRESSEE: LazyLock<Regex> = LazyLock::new(|| {
    let office = r"\p{Han}{0,6}?(?:部门|公司|集团|委|局|所|镇里|街道|社区|居委会|村委会|管理处|执法队|城管)";
    Regex::new(&format!(r"^({office}(?:(?:和|或者|跟|、){office})?)(?:赶紧|尽快|能|去|来|派|帮|出面|核实|一次性|抓紧|马上|立即|加强|协调)"))
        .expect("addressee pattern")
});

/// A first clause that only asks someone to look (管一管, 来查一下): where the next clause says
/// what should be done, that is the request (请交警来管一管，把消防通道清出来).
const ONLY_LOOK: &[&str] = &["管一管", "管管", "查一查", "查一下", "查查", "来看看", "加强管理", "处理一下", "来管管"];

/// Operators' questions that the caller's next turn answers with the request: 您的诉求是？
const REQUEST_QUESTIONS: &[&str] = &["诉求", "怎么处理", "建议是", "您希望", "是希望", "您的要求", "什么要求", "需要我们"];

/// Words a caller agrees with before the answer itself: 对，早高峰多开一两个安检口.
const AGREEMENTS: &[&str] = &["对对", "对", "是的", "是", "嗯", "没错"];

/// Longest request kept, in characters: an operator types the ask, not the story.
const MAX_REQUEST_CHARS: usize = 30;

/// The end of the clause that starts at byte `at`.
fn clause_end(text: &str, at: usize) -> usize {
    text[at..].find(CLAUSE_END).map_or(text.len(), |i| at + i)
}

/// The byte just after the clause end at `end`.
fn after(text: &str, end: usize) -> usize {
    end + text[end..].chars().next().map_or(0, char::len_utf8)
}

/// The end of a request that starts at `at`: its clause, and the clauses after it that go on
/// asking, up to the end of the sentence.
fn request_end(text: &str, at: usize) -> usize {
    let sentence_end = text[at..].find(['。', '！', '？', '；', '!', '?', ';', '\n']).map_or(text.len(), |i| at + i);
    let mut end = clause_end(text, at).min(sentence_end);
    while end < sentence_end {
        let next_start = after(text, end);
        let next_end = clause_end(text, next_start).min(sentence_end);
        let next = &text[next_start..next_end];
        if !GOES_ON.iter().any(|w| next.contains(w)) && !GOES_ON_OPENINGS.iter().any(|w| next.starts_with(w)) {
            break;
        }
        end = next_end;
    }
    end
}

/// Past the words a caller agrees with (对，) before an answer.
fn agreed(text: &str, mut at: usize) -> usize {
    while let Some(w) = AGREEMENTS.iter().find(|w| text[at..].starts_with(**w)) {
        at += w.len();
        at += text[at..].len() - text[at..].trim_start_matches(['，', ',', ' ']).len();
    }
    at
}

/// The start of the action asked for, past who asks, the ask word and whom it is asked of.
fn action_start(text: &str, start: usize, end: usize) -> usize {
    let mut at = start;
    let mut asked = false;
    loop {
        let rest = &text[at..end];
        let word = WHO_ASKS.iter().chain(AGREEMENTS).find(|w| rest.starts_with(**w)).map(|w| (w.len(), false));
        let word = word.or_else(|| ASK_WORDS.iter().find(|w| rest.starts_with(**w)).map(|w| (w.len(), true)));
        let word = word.or_else(|| ADDRESSEES.iter().find(|w| rest.starts_with(**w)).map(|w| (w.len(), false)));
        let word = word.or_else(|| {
            // The office only: the adverb or verb after it stays.
            let office = NAMED_ADDRESSEE.captures(rest).filter(|_| asked)?.get(1)?.as_str();
            // The office's name holds no verb: 通知燃气公司来人 asks for the notice, not the company.
            let verb = ["通知", "督促", "让", "找", "联系", "催", "叫", "协调", "一下"].iter().any(|v| office.contains(v));
            (!verb).then_some((office.len(), false))
        });
        // Keep at least two characters of the action.
        match word {
            Some((len, ask)) if text[at + len..end].trim_start_matches(['，', ',']).chars().count() >= 2 => {
                at += len;
                at += text[at..end].len() - text[at..end].trim_start_matches(['，', ',']).len();
                asked |= ask;
            }
            _ => break,
        }
    }
    // A first clause that only asks someone to look gives way to the clause saying what to do.
    let first_end = clause_end(text, at).min(end);
    if first_end < end && ONLY_LOOK.iter().any(|w| text[at..first_end].ends_with(w)) {
        let next = after(text, first_end);
        if ["让", "把"].iter().any(|w| text[next..end].starts_with(w)) {
            return next;
        }
    }
    at
}

/// What the caller asks for (诉求): the action asked, without who asks or the ask word. The
/// caller's answer to an operator's 您的诉求是？ wins; else the ask in the last clause that has one
/// (its first, if several). The clauses that go on asking are kept (at most
/// [`MAX_REQUEST_CHARS`], cut at a comma). `turns` gives each turn's speaker and byte range; the
/// operator's own words are never the request.
pub fn request(text: &str, turns: &[(Speaker, Range<usize>)]) -> Option<Span> {
    let agent_at = |at: usize| turns.iter().any(|(s, r)| *s == Speaker::Agent && r.contains(&at));
    let answer = turns.windows(2).rev().find_map(|w| {
        let ((asker, question), (speaker, reply)) = (&w[0], &w[1]);
        let asked = *asker == Speaker::Agent && *speaker != Speaker::Agent && REQUEST_QUESTIONS.iter().any(|q| text[question.clone()].contains(q));
        asked.then_some(reply.clone())
    });
    // Asks are looked for in the answer when there is one, else everywhere.
    let within = answer.clone().unwrap_or(0..text.len());
    // (clause start, ask position): the latest clause wins, then its earliest ask.
    let mut best: Option<(usize, usize)> = None;
    for ask in ASKS {
        for (at, _) in text[within.clone()].match_indices(ask) {
            let at = within.start + at;
            let clause_start = text[..at].rfind(CLAUSE_END).map_or(0, |i| after(text, i));
            let end = clause_end(text, at);
            if agent_at(at) || OPERATOR_ASKS.iter().any(|o| text[clause_start..end].contains(o)) || end <= at + ask.len() {
                continue;
            }
            if best.is_none_or(|(c, a)| clause_start > c || (clause_start == c && at < a)) {
                best = Some((clause_start, at));
            }
        }
    }
    // An answer with no ask word is the request as a whole: 让社区管管他们，把狗拴好.
    let best = best.or(answer.map(|reply| (reply.start, agreed(text, reply.start))));
    let (_, at) = best?;
    let end = request_end(text, at);
    let start = action_start(text, at, end);
    let mut end = end;
    if text[start..end].chars().count() > MAX_REQUEST_CHARS {
        let limit = text[start..].char_indices().nth(MAX_REQUEST_CHARS).map_or(text.len(), |(i, _)| start + i);
        end = text[start..limit].rfind(CLAUSE_END).map(|i| start + i).filter(|&e| e > start).unwrap_or(limit);
    }
    let end = REQUEST_STOPS.iter().filter_map(|w| text[start..end].find(w).map(|i| start + i)).min().unwrap_or(end);
    let end = text[..end].trim_end_matches(CLAUSE_END).len();
    (text[start..end].chars().count() >= 2).then(|| Span::of(text, start, end))
}

static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    // A sum with its unit (3000元, 八万块钱), or a spoken one with a magnitude and no unit
    // (十八万六, 两千六百多, 一万二千八).
    Regex::new(r"[一二三四五六七八九十两几]+[万千百][一二三四五六七八九十两几百千万零]*多?(?:块钱|块|元)?|(?:[0-9][0-9,.]*|[一二三四五六七八九十两几半百千万]+)多?(?:块钱|块|元|万元|万块|万)钱?").expect("amount pattern")
});

/// Classifiers after a number that make it a count of something else: 两千多人, 一百多平米.
const NOT_MONEY_AFTER: &[&str] = &["人", "户", "个", "名", "位", "平", "米", "斤", "公里", "里", "辆", "家", "天", "年", "次", "字", "块地", "亩", "吨", "件", "条", "张", "台", "只", "份", "瓶", "箱", "公斤", "度", "号", "层", "栋", "间", "套", "棵", "本", "岁"];

/// Sums of money, as said, each with its unit.
pub fn amounts(text: &str) -> Vec<Span> {
    AMOUNT
        .find_iter(text)
        .filter(|m| {
            let s = m.as_str();
            let unit = s.ends_with(['元', '块', '钱', '万']);
            // 一万 is a sum; 万一 ("in case"), 一块 ("a piece") and 一百多人 are not.
            s.chars().count() >= 2 && !s.starts_with(['万', '千', '百']) && !matches!(s, "一块" | "两块" | "这块" | "那块") && (unit || !NOT_MONEY_AFTER.iter().any(|c| text[m.end()..].starts_with(c)))
        })
        .map(|m| Span::of(text, m.start(), m.end()))
        .collect()
}

static PEOPLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?:好)?(?:{NUM}|[0-9])+(?:多|来)?(?:个|名|位|口)?(?:多)?(?:人|工人|农民工|孩子|小孩|老人|学生|员工|居民|家长|业主|住户|病人|患者|村民|商户|服务员|大妈|大爷|保安|司机|乘客|租户|老师|邻居|家庭)|(?:{NUM}|[0-9])+多?户(?:人家)?|一家{NUM}口|[俩仨](?:孩子|老人|人)"
    ))
    .expect("people pattern")
});

/// Counts of people, as said (一个人 is how a caller says alone, not a count).
pub fn people(text: &str) -> Vec<Span> {
    PEOPLE
        .find_iter(text)
        // One person is no count: 一个人住, 一个工人.
        .filter(|m| !matches!(m.as_str(), "个人" | "几个人" | "多人" | "半人" | "一户" | "几户") && !["一个", "一名", "一位", "一人"].iter().any(|p| m.as_str().starts_with(p)))
        .map(|m| Span::of(text, m.start(), m.end()))
        .collect()
}

const CUES: &[(Vulnerable, &[&str])] = &[
    (Vulnerable::ElderlyAlone, &["独居", "一个人住", "孤寡", "空巢"]),
    (Vulnerable::Elderly, &["老人", "老大爷", "老太太", "大爷", "大妈", "奶奶", "爷爷", "老年人", "老两口", "岁的老"]),
    (Vulnerable::Children, &["孩子", "小孩", "儿童", "婴儿", "小朋友", "学生", "新生儿"]),
    (Vulnerable::Disabled, &["残疾", "残障", "轮椅", "盲人", "聋哑", "瘫痪"]),
    (Vulnerable::Pregnant, &["孕妇", "怀孕"]),
];

/// Who the call says needs particular care; someone living alone is that, not also "elderly".
pub fn vulnerable(text: &str) -> Vec<Vulnerable> {
    let found: Vec<Vulnerable> = CUES.iter().filter(|(_, words)| words.iter().any(|w| text.contains(w))).map(|(v, _)| *v).collect();
    let alone = found.contains(&Vulnerable::ElderlyAlone);
    found.into_iter().filter(|v| !(alone && *v == Vulnerable::Elderly)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(s: Option<Span>) -> Option<String> {
        s.map(|s| s.text)
    }

    #[test]
    fn times_frequencies_and_durations() {
        assert_eq!(said(when("楼下烧烤店每天晚上十一点以后还在营业")).as_deref(), Some("每天晚上十一点以后"));
        assert_eq!(said(when("已经拖欠三个月了，一分钱没给")).as_deref(), Some("三个月了"));
        assert_eq!(said(when("我十月八号在网上买的洗衣机")).as_deref(), Some("十月八号"));
        assert_eq!(said(when("孩子入学的事想问问")), None);
    }

    #[test]
    fn subjects_keep_where_they_are() {
        let none: &[String] = &[];
        assert_eq!(said(subject("我家楼下烧烤店油烟太大了", none)).as_deref(), Some("楼下烧烤店"));
        assert_eq!(said(subject("我们小区的物业不管事", none)).as_deref(), Some("物业"));
        assert_eq!(said(subject("在星光健身房办了卡，现在跑路了", none)).as_deref(), Some("星光健身房"));
        assert_eq!(said(subject("我在仁济口腔诊所补的牙", none)).as_deref(), Some("仁济口腔诊所"));
        assert_eq!(said(subject("高米店这边的垃圾站", &["高米店".to_string()])).as_deref(), Some("垃圾站"));
        assert_eq!(said(subject("我们村离学校十几里山路", none)), None, "how far from a school names no school");
        assert_eq!(said(subject("这学期开学校车突然停了", none)), None, "开学 and 校车");
        assert_eq!(said(subject("要求督促厂家尽快来修", none)), None, "厂家 is the maker");
        // The operator's advice and questions name no subject.
        assert_eq!(said(subject("楼道里有燃气味。坐席：不要开关电器，马上开窗。", none)), None);
        assert_eq!(said(subject("坐席：您打过燃气公司的电话吗？市民：打了，楼下小卖店的人也闻到了", none)).as_deref(), Some("楼下小卖店"));
    }

    #[test]
    fn the_callers_last_ask_not_the_operators_question() {
        let ask = |t: &str| said(request(t, &[]));
        let t = "请问您有什么诉求？我希望有关部门尽快来查处一下，太影响休息了。";
        assert_eq!(ask(t).as_deref(), Some("尽快来查处一下"), "who asks, the ask word and 有关部门 are left out");
        assert_eq!(ask("我们希望尽快恢复供水。").as_deref(), Some("尽快恢复供水"));
        assert_eq!(ask("商家不给换货，要求退款。").as_deref(), Some("退款"));
        assert_eq!(ask("暖气不热，屋里才十五度。"), None);
        // Asks without 希望 or 要求: a plea for help, or the office asked for by name.
        assert_eq!(ask("老板跑了，帮我把工资要回来。").as_deref(), Some("帮我把工资要回来"));
        assert_eq!(ask("早高峰等太久，希望公交集团尽快调整发车间隔。").as_deref(), Some("尽快调整发车间隔"));
        // An office that is told something stays: the ask is to tell it.
        assert_eq!(ask("闻到煤气味，麻烦你们马上通知燃气公司来人。").as_deref(), Some("马上通知燃气公司来人"));
        // A 请 that opens an ask to a body, and a caller's 你们给; not the 请派 of 派出所.
        assert!(ask("全村都有意见。请镇里派人来查一查，把账目公示出来。").is_some_and(|r| r.contains("把账目公示出来")));
        assert!(ask("等了两个礼拜了，你们给催催，让他们把气压给提上来。").is_some_and(|r| r.contains("把气压给提上来")));
        assert_eq!(ask("要求狗主人赔偿医药费，也请派出所管一管。").as_deref(), Some("狗主人赔偿医药费，也请派出所管一管"));
    }

    #[test]
    fn the_request_goes_on_and_says_what_to_do() {
        let ask = |t: &str| said(request(t, &[]));
        assert_eq!(ask("车都堵着，请交警或者城管来管一管，把消防通道清出来。").as_deref(), Some("把消防通道清出来"));
        assert_eq!(ask("停水两天了，希望赶紧抢修，先派个送水车过来。").as_deref(), Some("赶紧抢修，先派个送水车过来"));
    }

    #[test]
    fn the_answer_to_the_operators_question_is_the_request() {
        let turns = |text: &str, lines: &[(Speaker, &str)]| -> Vec<(Speaker, Range<usize>)> {
            lines.iter().map(|(s, l)| { let i = text.find(l).unwrap(); (*s, i..i + l.len()) }).collect()
        };
        let lines = [(Speaker::Agent, "您的诉求是？"), (Speaker::Caller, "让社区管管他们，把狗拴好。"), (Speaker::Agent, "好的。")];
        let text: String = lines.iter().map(|(_, l)| *l).collect();
        assert_eq!(said(request(&text, &turns(&text, &lines))).as_deref(), Some("让社区管管他们，把狗拴好"));
        // An ask word later in the answer still marks where the request starts.
        let lines = [(Speaker::Agent, "您的诉求是？"), (Speaker::Caller, "我就是觉得占耕地不对，希望规划部门来查一查。")];
        let text: String = lines.iter().map(|(_, l)| *l).collect();
        assert_eq!(said(request(&text, &turns(&text, &lines))).as_deref(), Some("来查一查"));
        // The operator's own words are never the request.
        let lines = [(Speaker::Agent, "您是希望增加安检通道？"), (Speaker::Caller, "对，早高峰多开一两个安检口。")];
        let text: String = lines.iter().map(|(_, l)| *l).collect();
        assert_eq!(said(request(&text, &turns(&text, &lines))).as_deref(), Some("早高峰多开一两个安检口"));
    }

    #[test]
    fn sums_people_and_care() {
        let t = "二十多个工人被拖欠工资八万块钱，还有一个独居老人";
        assert_eq!(amounts(t).iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["八万块钱"]);
        assert_eq!(people(t).iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["二十多个工人"]);
        assert_eq!(vulnerable(t), [Vulnerable::ElderlyAlone]);
        assert_eq!(vulnerable("家里有老人和孩子"), [Vulnerable::Elderly, Vulnerable::Children]);
        assert!(amounts("万一出事怎么办").is_empty());
    }
}
