//! Danger to life or property now: a gas leak, fire, someone trapped or drowning, a threat
//! of suicide or violence, a fraud still in progress, a missing person, someone living alone
//! who does not answer, a collapse, flooding. These calls must jump the queue, so the rules
//! favour recall: a missed emergency costs far more than an extra look.
//!
//! Calls arrive through speech-to-text, which writes 然气味 for 燃气味 and 着伙 for 着火. So a
//! phrase also matches on its sound (toneless pinyin, common readings), where its sound is
//! distinctive enough: three characters or more, or a two-character phrase on the
//! [`SOUND_PAIRS`] list. Many two-character phrases sound like everyday words (打人 like 大人,
//! 家暴 like 家宝, 倒塌 like 到他, 走失 like 走十, 中毒 like 重度), so the list is short.

use serde::{Deserialize, Serialize};

use crate::text::sound::HeardText;

/// Where an urgent call goes at once, before any department: since 2022 urgent police
/// matters are handed straight to 110, fires and rescues to 119, medical emergencies to 120.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum HandoffLine {
    #[serde(rename = "110")]
    Police,
    #[serde(rename = "119")]
    FireRescue,
    #[serde(rename = "120")]
    Medical,
}

impl HandoffLine {
    /// The line of a number as the heads label it ("110", "119", "120").
    pub fn parse(number: &str) -> Option<Self> {
        [HandoffLine::Police, HandoffLine::FireRescue, HandoffLine::Medical].into_iter().find(|l| l.number() == number)
    }

    pub fn number(self) -> &'static str {
        match self {
            HandoffLine::Police => "110",
            HandoffLine::FireRescue => "119",
            HandoffLine::Medical => "120",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HandoffLine::Police => "公安 110",
            HandoffLine::FireRescue => "消防救援 119",
            HandoffLine::Medical => "急救 120",
        }
    }
}

/// The hand-off hint an operator sees on an urgent call.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Handoff {
    /// "110", "119" or "120".
    #[schema(value_type = String)]
    pub line: HandoffLine,
    pub name: &'static str,
    /// The danger that calls for it, e.g. "火灾".
    pub because: String,
}

/// One danger: the reason shown to the operator, the line it goes to, and the phrase groups
/// that signal it. Every group must match somewhere in the call (a fraud in progress needs a
/// sign of fraud *and* of money just sent); within a group any phrase will do.
struct Signal {
    reason: &'static str,
    handoff: Option<HandoffLine>,
    groups: &'static [&'static [&'static str]],
    /// Words anywhere in the call that explain the signal away (油烟 makes 呛得 a fume
    /// complaint, not smoke from a fire).
    unless: &'static [&'static str],
}

use HandoffLine::{FireRescue, Medical, Police};

/// In order of precedence: the first matching signal with a line picks the hand-off.
const SIGNALS: &[Signal] = &[
    Signal { reason: "火灾", handoff: Some(FireRescue), groups: &[&["着火", "起火", "失火", "火灾", "有烟了", "烧焦", "烧起来", "火花", "电线起火", "爆炸", "炸了", "钻烟", "门把手发烫", "门把手烫"]], unless: &[] },
    // Smoke from a chimney, an exhaust pipe or a field being burnt is pollution to report, not a fire.
    Signal {
        reason: "火灾",
        handoff: Some(FireRescue),
        groups: &[&["冒烟", "冒黑烟", "浓烟", "黑烟"]],
        unless: &["烟囱", "锅炉", "尾气", "柴油", "货车", "排气", "烧烤", "烤串", "油烟", "排烟", "秸秆", "焚烧", "烧垃圾", "渣土车", "挖掘机", "搅拌站", "轮胎"],
    },
    Signal { reason: "火灾", handoff: Some(FireRescue), groups: &[&["呛得", "全是烟", "火苗"]], unless: &["燃气灶", "点火", "打火", "油烟", "烧烤", "炒菜", "做饭", "抽烟", "吸烟", "粉尘", "灰尘", "粉末", "味儿", "异味", "臭"] },
    Signal { reason: "有人被困", handoff: Some(FireRescue), groups: &[&["被困", "困在", "困住", "关在电梯", "卡在电梯", "电梯里出不来", "出不来了", "锁在里面", "车里有人", "里面还有人", "卡住了拔不出", "拔不出来", "卡在栏杆", "卡在护栏", "堵在里屋", "堵在屋里", "压在下面", "压在底下", "埋在下面", "埋在底下", "埋到", "被埋", "埋住"]], unless: &[] },
    Signal { reason: "溺水", handoff: Some(FireRescue), groups: &[&["溺水", "落水", "掉河里", "掉进河", "掉到河", "掉到护城河", "掉进护城河", "掉湖里", "掉进湖", "掉到湖", "掉水里", "掉进水", "掉到水里", "有人淹", "快淹死", "掉冰窟窿", "掉进冰", "在水里扑腾", "在水里挣扎", "掉进池塘", "掉到池塘"]], unless: &[] },
    Signal { reason: "有害气体或危化品泄漏", handoff: Some(FireRescue), groups: &[&["化学品", "氨水", "毒气", "有毒气体", "氯气", "漏油", "汽油味", "油流了一地", "危化品泄漏", "气体泄漏"]], unless: &[] },
    // A sharp smell from a workshop or a plant at night is pollution to report; a sharp smell with
    // no source named may be a leak.
    Signal { reason: "有害气体或危化品泄漏", handoff: Some(FireRescue), groups: &[&["刺鼻"]], unless: &["油漆", "喷漆", "厂", "每天", "天天", "夜里", "半夜", "晚上"] },
    Signal { reason: "暴力威胁", handoff: Some(Police), groups: &[&["持刀", "拿刀", "拿着刀", "砍人", "砍死", "杀人", "要杀", "打人", "殴打", "家暴", "行凶", "威胁要", "扬言", "报复社会", "拿着棍子", "拿着菜刀", "拎着刀", "拎着菜刀", "拎着把菜刀", "举着刀", "挥刀", "砍谁", "正在打", "打起来了", "往死里打", "砸我车", "砸车窗"]], unless: &[] },
    Signal { reason: "自杀或自伤风险", handoff: Some(Police), groups: &[&["自杀", "轻生", "跳楼", "不想活", "活不下去", "寻死", "割腕", "喝药", "要跳下去", "往下跳", "跳下去", "结束自己", "爬到楼顶", "爬到塔吊", "站在楼顶", "坐在楼顶", "楼顶上坐着", "坐在窗台"]], unless: &[] },
    // Money sent minutes ago can still be frozen: a sign of fraud, of a transfer, and of "just now".
    Signal {
        reason: "诈骗正在发生",
        handoff: Some(Police),
        groups: &[
            &["自称", "冒充", "骗", "安全账户", "公检法", "刷单", "客服说", "说我涉嫌", "说我的卡", "洗钱", "屏幕共享", "验证码", "说他是", "越想越不对", "拦下来", "拦住", "冻结", "止付"],
            &["转过去", "转了", "转账", "汇过去", "汇了", "打过去", "打了钱", "付了", "充了", "转到"],
            &["刚", "刚才", "刚刚", "就在", "半小时", "十分钟", "分钟前", "钟头前", "小时前", "今天下午", "今天上午", "现在"],
        ],
        unless: &[],
    },
    Signal {
        reason: "人员走失",
        handoff: Some(Police),
        groups: &[
            &["孩子", "小孩", "儿子", "女儿", "老人", "老爷子", "老太太", "老大爷", "老大妈", "我妈", "我爸", "母亲", "父亲", "爷爷", "奶奶", "姥姥", "姥爷", "老伴", "闺女", "外孙", "孙子", "孙女", "痴呆", "阿尔茨海默"],
            &["走失", "走丢", "失踪", "找不到人", "人找不到", "找不着了", "不见了", "没回家", "一直没回来", "还没回来", "人丢了"],
        ],
        // Found again (在网吧里找着的), or a file that is lost, not a person (档案找不着了).
        unless: &["找着了", "找着的", "找到了", "找到的", "找回来了", "档案"],
    },
    Signal {
        reason: "独居者无应答",
        handoff: Some(Police),
        groups: &[
            &["没人应", "没人开门", "不开门", "没有动静", "没动静", "电话也不接", "电话不接", "没人接", "叫不应", "也不接", "都不接", "不接电话"],
            &["天没出门", "天没见", "天没露面", "好几天", "独居", "一个人住", "自己住", "孤寡", "空巢", "一个人生活", "一个人过", "自己过"],
        ],
        unless: &[],
    },
    Signal { reason: "急病", handoff: Some(Medical), groups: &[&["晕倒", "昏倒", "叫不醒", "昏迷", "没有呼吸", "没呼吸", "没了呼吸", "抽搐", "大出血", "流了好多血", "心脏病发", "急救车", "120还没", "打了120", "口吐白沫", "倒地不起", "人倒在地上", "嘴唇发紫", "嘴唇都有点发紫", "喘不上气", "上不来气", "喘得厉害", "头晕恶心", "天没透析", "倒在楼道", "倒在路边", "倒在门口", "叫他不答应", "叫不答应", "脸色发紫", "白沫", "喘得很厉害"]],
        // Complaints about an ambulance that came late, once the patient is in care.
        unless: &["投诉急救", "投诉救护", "急救车为啥", "急救车为什么", "救护车为啥", "救护车为什么", "急救车的事", "救护车的事"] },
    Signal { reason: "集体中毒", handoff: Some(Medical), groups: &[&["中毒", "上吐下泻", "又吐又拉", "都吐了", "都拉肚子", "送医院了"], &["好几个", "十几个", "几十个", "一群", "全班", "好多人", "都"]], unless: &[] },
    Signal { reason: "燃气泄漏", handoff: None, groups: &[&["燃气泄漏", "燃气漏", "煤气泄漏", "煤气漏", "天然气泄漏", "天然气漏", "漏气", "燃气味", "煤气味", "天然气味", "闻到煤气", "闻到燃气", "闻到天然气", "液化气罐漏", "燃气管道给挖", "管道挖破", "嘶嘶", "往外冒气"]], unless: &[] },
    Signal { reason: "坍塌或坠落", handoff: None, groups: &[&["坍塌", "塌了", "倒塌", "塌方", "要塌", "快塌", "会不会塌", "塌下去", "墙体开裂", "承重墙", "房子裂", "楼裂", "掉下来砸", "砸下来", "脚手架倒", "随时要倒", "要倒了", "马上要倒", "快要倒", "随时会倒", "井盖没了", "井盖丢", "窟窿", "差点掉下去", "塌陷", "陷下去"]], unless: &[] },
    // A tree, sign or wall that leans or sways is about to fall on whoever is under it.
    Signal {
        reason: "倒伏或坠物危险",
        handoff: None,
        groups: &[
            &["树", "广告牌", "招牌", "牌子", "围墙", "围挡", "墙", "阳台", "脚手架", "塔吊", "电线杆", "灯杆", "空调外机", "玻璃", "外墙", "瓷砖"],
            &["歪得厉害", "歪了", "倾斜", "摇摇欲坠", "晃得厉害", "来回晃", "随时会掉", "要掉下来", "快掉下来", "松动", "悬着", "耷拉着", "随时砸", "感觉要倒", "马上要倒", "来回晃荡", "刮倒"],
        ],
        unless: &[],
    },
    Signal { reason: "积水或内涝", handoff: None, groups: &[&["水淹", "被淹", "淹了", "进水了", "倒灌", "内涝", "积水很深", "水特别深", "水很深", "水都到", "水漫", "决堤", "管道爆裂", "水管爆", "爆管", "管子爆", "往外喷", "水往上涨"]], unless: &[] },
    Signal { reason: "触电", handoff: None, groups: &[&["触电", "漏电", "电线掉", "高压线掉", "电线断了", "刮断", "电着人", "电线耷拉", "冒火星", "打火花"]], unless: &[] },
    // A patient kept alive by a machine has hours, not days, once the power is off.
    Signal {
        reason: "停电危及病人",
        handoff: None,
        groups: &[&["制氧机", "呼吸机", "吸着氧", "氧气袋", "吸氧", "透析机"], &["停电", "没电", "断电", "来电", "黑了", "停了"]],
        unless: &[],
    },
    // A cry for help says nothing of what happened: the line is left to the other signals.
    Signal { reason: "呼救", handoff: None, groups: &[&["喊救命", "救救"]], unless: &[] },
    Signal { reason: "烫伤或冻伤风险", handoff: None, groups: &[&["烫伤", "冒白汽", "冻死", "冻得"], &["烫伤", "冒白汽", "冻死", "卧床", "婴儿", "病人", "瘫"]], unless: &[] },
    // A flat without heat is a complaint, unless someone in it cannot move or keep warm.
    Signal {
        reason: "停暖危及病人",
        handoff: None,
        groups: &[&["暖气", "供暖", "供热"], &["不热", "冰凉", "停了", "停暖"], &["卧床", "瘫", "中风", "病人"]],
        unless: &[],
    },
];

/// Two-character phrases whose sound is distinctive enough to match a same-sound slip.
const SOUND_PAIRS: &[&str] = &["着火", "起火", "失火", "火灾", "冒烟", "浓烟", "被困", "溺水", "昏迷", "抽搐", "自杀", "轻生", "内涝", "漏气", "触电", "失踪", "独居"];

/// Words that, right before a signal, cancel it: negations ("没有燃气味"), hypotheticals
/// ("容易着火" is a hazard to fix, not a fire now; "真着火了云梯车往哪儿停" asks what if), and ignition ("热水器打不着火" is a water
/// pressure or gas supply complaint).
const NEGATIONS: &[&str] = &["真", "没有", "没", "不是", "并没有", "无", "怕", "容易", "万一", "会不会", "防止", "以防", "担心", "一旦", "要是", "引发", "造成", "打不", "点不",
    // A chat group that "blew up" is busy, not on fire; 找着活 (found work) sounds like 着火.
    "群里都", "群里", "群都", "找",
    // The fear of a fire, before the explosion it would cause (担心起火爆炸).
    "担心起火", "怕起火", "容易起火", "防止起火"];

/// Words that begin with a danger's last character: 全是烟花爆竹 and 全是烟头 tell of no smoke.
const LONGER_WORDS: &[&str] = &["烟花", "烟头"];

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Urgency {
    pub urgent: bool,
    /// What was recognised, e.g. "燃气泄漏 (燃气味)", or "火灾 (着伙≈着火)" when it was heard.
    pub reasons: Vec<String>,
    pub handoff: Option<Handoff>,
    /// The caller says the danger is over (see [`SETTLED`]): no rule but a lasting one fired, and
    /// the learned head is not to be asked.
    #[serde(skip)]
    pub settled: bool,
    /// A danger that is no emergency line's fired (see [`NO_LINE`]): unless another signal named
    /// a line, the learned hand-off head is not to name one.
    #[serde(skip)]
    pub no_line: bool,
}

impl Urgency {
    /// Mark urgent for a reason the rules did not see (the learned head); the line, if any, is
    /// chosen afterwards ([`Self::hand_to`]).
    pub fn flag(&mut self, reason: String) {
        self.urgent = true;
        self.reasons.push(reason);
    }

    /// Hand an urgent call to `line` when nothing chose one yet, for its first reason.
    pub fn hand_to(&mut self, line: HandoffLine) {
        if self.urgent && self.handoff.is_none() {
            let because = self.reasons.first().cloned().unwrap_or_default();
            self.handoff = Some(Handoff { line, name: line.name(), because });
        }
    }
}

/// Words that, earlier in the same sentence, put a danger in the past: it is a complaint about
/// what happened then, not an emergency now.
const PAST: &[&str] = &[
    "去年", "前年", "上个月", "上个礼拜", "上次", "那次", "当时", "以前", "之前", "曾经", "前几年", "前些年",
    "昨天", "昨晚", "昨夜", "前天", "前两天", "前几天", "上礼拜", "上周", "上星期", "上回", "前阵子", "前段时间",
];

/// Words that bring a call back from the past to now.
const NOW: &[&str] = &["现在", "刚才", "刚刚", "正在", "这会儿", "眼下", "今天", "还在", "又"];

/// Words after a past date that make the danger last until now: 从昨天开始, 昨天到今天一直.
const SINCE: &[&str] = &["开始", "一直", "到现在"];

/// Words that, earlier in the same sentence, make a danger a routine: smoke every night is
/// pollution to report, not a fire.
const ROUTINE: &[&str] = &["每天", "天天", "每晚", "每到", "一到", "经常", "老是", "总是", "常常", "隔三差五", "一下雨", "每次下雨"];

/// Words that, earlier in the same clause, make a danger a fear of what might happen, or a
/// question about it (the operator's 有没有要倒的情况).
const HYPOTHETICAL: &[&str] = &["万一", "如果", "要是", "假如", "一旦", "真要", "就怕", "生怕", "不是说", "有没有", "哪天"];

/// Dangers that are a utility's to fix, not an emergency line's: a gas leak goes to the gas
/// company's repair crew. (Writers of training calls split on it; the learned hand-off head must
/// not decide it.)
const NO_LINE: &[&str] = &["燃气泄漏"];

/// Dangers that last until someone acts: when they began does not put them in the past, and
/// the caller saying the fire is out does not end them.
const LASTING: &[&str] = &["人员走失", "独居者无应答"];

/// Words that say the danger is over: the fire is out, the water has gone, the patient is in
/// care. Such a call reports what happened; no signal but a lasting one makes it urgent.
const SETTLED: &[&str] = &[
    "扑灭了", "给扑了", "火灭了", "火已经灭", "已退水", "水已退", "水退了", "缓过来", "抢救过来", "脱离危险", "做完手术",
    "没大事了", "已经修好", "已经处理好", "已经出院", "倒是还好", "倒是没事",
];

/// Where a sentence ends, and where a clause within it does.
const SENTENCE_ENDS: [char; 6] = ['。', '！', '？', '!', '?', '\n'];
const CLAUSE_ENDS: [char; 4] = ['，', ',', '；', ';'];

/// Words right after a danger that make it a topic, not an event: 起火原因, 火灾隐患.
const ABOUT: &[&str] = &["原因", "隐患", "风险"];

/// Calls that praise or thank are never emergencies, whatever they tell of.
const PRAISE: &[&str] = &["表扬"];

fn negated(text: &str, at: usize, lasting: bool) -> bool {
    let before = &text[..at];
    let sentence = before.rfind(SENTENCE_ENDS).map_or(before, |i| &before[i..]);
    let clause = sentence.rfind(CLAUSE_ENDS).map_or(sentence, |i| &sentence[i..]);
    // The text of the sentence from the last of `words` up to the danger.
    let since = |words: &[&str]| words.iter().filter_map(|p| sentence.rfind(p).map(|i| &sentence[i..])).min_by_key(|rest| rest.len());
    // The past ends where the caller comes back to now: 去年装的灶，现在一股燃气味.
    // 从前天夜里就不热了: since a past date is until now.
    let from_then = |rest: &str| sentence[..sentence.len() - rest.len()].ends_with(['从', '自']);
    let past = since(PAST).is_some_and(|rest| !NOW.iter().chain(SINCE).any(|n| rest.contains(n)) && !from_then(rest));
    let routine = since(ROUTINE).is_some_and(|rest| !NOW.iter().any(|n| rest.contains(n)));
    NEGATIONS.iter().any(|n| before.ends_with(n)) || (!lasting && (past || routine)) || HYPOTHETICAL.iter().any(|h| clause.contains(h))
}

/// How the phrase occurs in the call, if it does outside a negation: as written, or by sound
/// (then the words actually written are returned, to show the operator).
fn find(text: &str, heard: &HeardText, phrase: &str, lasting: bool) -> Option<String> {
    // 原因 after the danger makes it a topic, and a question ending soon after it asks whether it
    // happened (现在还有冒烟或者起火吗), where 是吗 only confirms a fact (三天没透析了是吗).
    let about = |end: usize| {
        let clause = text[end..].split(|c| SENTENCE_ENDS.contains(&c) || CLAUSE_ENDS.contains(&c)).next().unwrap_or("");
        let asked = clause.chars().count() <= 6 && clause.ends_with('吗') && !clause.contains('是');
        asked || ABOUT.iter().chain(&["吗", "了吗"]).any(|w| text[end..].starts_with(w))
    };
    let longer = |end: usize| text[..end].char_indices().next_back().is_some_and(|(last, _)| LONGER_WORDS.iter().any(|w| text[last..].starts_with(w)));
    // Where a match, written or heard, counts as the danger.
    let counts = |at: usize, end: usize| !negated(text, at, lasting) && !about(end) && !longer(end);
    if text.match_indices(phrase).any(|(at, _)| counts(at, at + phrase.len())) {
        return Some(phrase.to_string());
    }
    let len = phrase.chars().count();
    if len < 3 && !SOUND_PAIRS.contains(&phrase) {
        return None;
    }
    let range = heard.slips(text, phrase).find(|r| counts(r.start, r.end))?;
    Some(format!("{}≈{phrase}", &text[range]))
}

pub fn assess(text: &str) -> Urgency {
    let mut urgency = Urgency { settled: SETTLED.iter().any(|w| text.contains(w)), ..Urgency::default() };
    if PRAISE.iter().any(|w| text.contains(w)) {
        return urgency;
    }
    let heard = HeardText::new(text);
    for signal in SIGNALS {
        let lasting = LASTING.contains(&signal.reason);
        if signal.unless.iter().any(|w| text.contains(w)) || (urgency.settled && !lasting) {
            continue;
        }
        let found: Option<Vec<String>> = signal.groups.iter().map(|group| group.iter().find_map(|p| find(text, &heard, p, lasting))).collect();
        if let Some(words) = found {
            let reason = format!("{} ({})", signal.reason, words.join("+"));
            urgency.urgent = true;
            if urgency.handoff.is_none() {
                urgency.handoff = signal.handoff.map(|line| Handoff { line, name: line.name(), because: signal.reason.to_string() });
            }
            urgency.no_line |= NO_LINE.contains(&signal.reason);
            urgency.reasons.push(reason);
        }
    }
    urgency
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_not_urgent(texts: &[&str]) {
        for text in texts {
            let u = assess(text);
            assert!(!u.urgent, "{text}: {:?}", u.reasons);
        }
    }

    #[test]
    fn past_dangers_feared_dangers_and_cooking_fumes_are_not_emergencies() {
        assert_not_urgent(&[
            "楼下烧烤店每天晚上油烟特别大，呛得我们开不了窗",
            "去年七月那场大雨，地下车库进水了，淹了十几辆车，希望改造排水",
            "当时就漏气了，后来燃气公司来临时处理了一下",
            "晚上都睡不踏实，万一哪儿起火，二十来号人就一个门出去",
            "我们住二十多层，真着火了云梯车往哪儿停啊",
            "燃气灶点火以后那个火苗是红的，不是蓝的",
        ]);
        assert!(assess("楼道里全是烟，呛得喘不过气").urgent, "smoke with no cooking is still a fire");
        assert!(assess("去年装的燃气灶，现在厨房里一股燃气味，特别冲").urgent, "a past date in another clause");
    }

    #[test]
    fn dangers_are_flagged_with_reasons() {
        for (text, reason) in [
            ("市民：楼道里一股燃气味，特别冲", "燃气泄漏"),
            ("对面楼着火了，冒黑烟", "火灾"),
            ("我妈被困在电梯里了", "有人被困"),
            ("有个孩子掉河里了", "溺水"),
            ("我爸已经三天没透析了，脚肿得鞋都穿不进", "急病"),
            ("修路的铁皮围挡刚才一阵大风刮倒了一大片，拍在车道上", "倒伏或坠物危险"),
            ("有个老人掉到护城河里了", "溺水"),
            ("他说不想活了要跳楼", "自杀或自伤风险"),
            ("邻居拿刀威胁要砍人", "暴力威胁"),
            ("老房子墙体开裂，感觉要塌", "坍塌"),
            ("路边井盖没了，差点掉下去", "坍塌或坠落"),
            ("我爸突然晕倒了叫不醒", "急病"),
            ("地下室进水了，水管爆了", "积水或内涝"),
            ("刚按自称公安局的人说的把八万块钱转过去了", "诈骗正在发生"),
            ("对门独居老大爷三天没出门，敲门没人应", "独居者无应答"),
            ("大杨树歪得厉害，底下天天有小孩上学走，感觉马上要倒", "倒伏或坠物危险"),
            ("我家老爷子有点痴呆，早上出去遛弯到现在还没回来", "人员走失"),
        ] {
            let u = assess(text);
            assert!(u.urgent && u.reasons.iter().any(|r| r.starts_with(reason)), "{text}: {u:?}");
        }
    }

    #[test]
    fn same_sound_slips_still_fire_and_show_what_was_heard() {
        let u = assess("楼到里有一股然气味儿特别冲");
        assert!(u.reasons.iter().any(|r| r == "燃气泄漏 (然气味≈燃气味)"), "{u:?}");
        let u = assess("对面楼着伙了");
        assert!(u.reasons.iter().any(|r| r.starts_with("火灾 (着伙≈着火)")), "{u:?}");
        // 大人 sounds like 打人, but a two-character phrase off the list never matches by sound.
        assert!(!assess("大人带着孩子去公园").urgent);
    }

    #[test]
    fn handoff_lines_follow_the_danger() {
        for (text, line) in [
            ("对面楼着火了", Some("119")),
            ("有个老人掉到护城河里了", Some("119")),
            ("刚按自称公安局的人说的把八万块钱转过去了", Some("110")),
            ("对门独居老大爷三天没出门，敲门没人应", Some("110")),
            ("邻居拿刀威胁要砍人", Some("110")),
            ("我爸突然晕倒了叫不醒", Some("120")),
            ("楼道里一股燃气味", None),
            ("大街上的广告牌被风吹得来回晃荡", None),
            // The line follows what happened, not the cry for help.
            ("山墙塌了半边，她被堵在里屋出不来，快来人救救她", Some("119")),
            ("家里有煤气味，老人洗完澡出来就说头晕恶心", Some("120")),
            ("对门门缝底下一直往外钻烟，敲门没人应，他一个人住", Some("119")),
            ("饭馆门口有个男的拎着把菜刀，嚷嚷谁过来砍谁", Some("110")),
            ("对面楼顶上坐着个小伙子，两条腿耷拉在外头", Some("110")),
        ] {
            let u = assess(text);
            assert!(u.urgent, "{text}");
            assert_eq!(u.handoff.as_ref().map(|h| h.line.number()), line, "{text}: {u:?}");
        }
    }

    #[test]
    fn a_gas_leak_is_no_emergency_lines_unless_another_danger_names_one() {
        let leak = assess("楼道里一股很冲的燃气味，好像是燃气管道漏气了");
        assert!(leak.urgent && leak.no_line && leak.handoff.is_none(), "{leak:?}");
        let ill = assess("家里有煤气味，老人洗完澡出来就说头晕恶心");
        assert_eq!(ill.handoff.map(|h| h.line.number()), Some("120"));
        assert!(!assess("我爸前天早上出门遛弯，到今天还没回来").no_line);
    }

    #[test]
    fn dangers_that_are_over_routine_or_asked_about_are_not_emergencies() {
        assert_not_urgent(&[
            "前天夜里楼下电动车充电着火了，邻居拿灭火器扑了，楼道都熏黑了",
            "我要投诉急救车，上礼拜我父亲脑梗，救护车一个钟头才到",
            "村北的小厂每天晚上十点以后开始往外冒烟",
            "墙上裂缝越来越大，倒不是说马上要塌，就是想请人鉴定一下",
            "接线员：树有没有倾斜或者马上要倒的情况？\n市民：那倒没有，就是干树枝老往下掉",
            "健身房突然关门了，会员群里都炸了",
            "厂子关了以后一直没找着活儿，想问问低保怎么申请",
            "昨晚大雨桥下积水，有辆车被困，现已退水，希望疏通雨水口",
            "门口的下水道一下雨就往上冒水，半条街都淹了",
            "楼下新开的烤串店排烟管子对着我家窗户，下午就开始冒烟",
            "小卖部后院堆了一屋子鞭炮，我们都怕哪天炸了",
            "接线员：现在还有冒烟或者起火吗？\n市民：没有，拔了插头就没事了，就是想退货",
            "我要反映一下急救车的事，上礼拜打了120等了四十分钟，老人现在已经出院了",
            "楼前的杨树歪得厉害，现在倒是还好，就怕雨季刮大风",
            "带老人孩子住民宿，暖气不热冻得睡不着，想退房费",
            "村里有户人家院里囤了好多鞭炮，担心起火爆炸，希望来查一查",
            "地下车库一个车位让人围起来了，里头全是烟花，堆到顶了",
            "楼梯拐角全是烟头，谁抽的也不知道",
            "孩子昨天半夜没回家，最后在网吧里找着的，网吧不查身份证",
            "我爸快退休了，人事档案找不着了，原来的单位早没了",
        ]);
        assert!(assess("昨晚大雨桥下积水，有辆车被困，现已退水，希望疏通雨水口").settled);
    }

    #[test]
    fn dangers_of_the_hour_are_flagged_however_they_are_told() {
        for (text, reason, line) in [
            ("停电两个小时了，我父亲靠制氧机吸氧，电池快没了", "停电危及病人", None),
            ("二十分钟前有人说他是市场监管所的，让我扫码交保证金，我转过去了，现在还能拦下来吗", "诈骗正在发生", Some("110")),
            ("沟里的土塌下来了，把工友埋到胸口了", "有人被困", Some("119")),
            ("对门老大爷倒在楼道里了，叫他不答应，嘴角有白沫", "急病", Some("120")),
            // A missing person is missing until found, however long ago he left.
            ("我爸前天早上出门遛弯，到今天还没回来", "人员走失", Some("110")),
            ("有个人拿着方向盘锁在砸我车窗", "暴力威胁", Some("110")),
            ("我婆婆瘫在床上，暖气从前天夜里就不热了，屋里才十一度", "停暖危及病人", None),
            ("对门老太太一个人过，两天没见着了，敲门打电话也不接", "独居者无应答", Some("110")),
            // An operator's check of a fact (是吗) is no question about whether it happened.
            ("接线员：老人已经三天没透析了是吗？\n市民：对，脚肿得鞋都穿不进", "急病", Some("120")),
        ] {
            let u = assess(text);
            assert!(u.urgent && u.reasons.iter().any(|r| r.starts_with(reason)), "{text}: {u:?}");
            assert_eq!(u.handoff.as_ref().map(|h| h.line.number()), line, "{text}: {u:?}");
        }
    }

    #[test]
    fn ordinary_and_negated_calls_are_not_urgent() {
        assert_not_urgent(&[
            "楼下烧烤店油烟太大了",
            "孩子上学入学手续怎么办理",
            "物业费涨价了",
            "检查过了，没有燃气味",
            "我的个人信息泄漏了，天天接到骚扰电话",
            "晚上吵得睡不着了",
            "楼道里电动车充电，万一着火怎么办",
            "水压太低，热水器打不着火",
            "燃气灶点不着火了",
            "去年被骗了两万块钱，想问问案子有进展没有",
            "村北那个铸造厂的烟囱天天冒黑烟，要求查处",
            "昨天夜里车棚着过一回火，现在火是没了，我想问问这起火原因谁来认定",
            "我想表扬一个公交司机，有个老人在车上突然晕倒了，司机马上停车帮着打120",
            "发票找不到了，能补开吗",
        ]);
    }
}
