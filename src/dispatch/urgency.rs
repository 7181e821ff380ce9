//! Danger to life or property now: a gas leak, fire, someone trapped or drowning, a threat
//! of suicide or violence, a collapse, flooding. These calls must jump the queue, so the
//! rules favour recall: a missed emergency costs far more than an extra look.

use serde::Serialize;

/// (reason shown to the operator, phrases that signal it). Phrases are matched on the
/// normalised transcript; several are the speech-to-text slips callers' words turn into.
const SIGNALS: &[(&str, &[&str])] = &[
    ("燃气泄漏", &["燃气泄漏", "燃气漏", "煤气泄漏", "煤气漏", "天然气泄漏", "天然气漏", "漏气", "燃气味", "煤气味", "天然气味", "燃起味", "然气味", "闻到煤气", "闻到燃气", "闻到天然气", "液化气罐漏", "燃气管道给挖", "管道挖破", "嘶嘶", "往外冒气"]),
    ("有害气体或危化品泄漏", &["化学品", "刺鼻", "氨水", "毒气", "有毒气体", "氯气", "头晕恶心", "漏油", "汽油味", "油流了一地", "危化品泄漏", "气体泄漏"]),
    ("火灾", &["着火", "起火", "失火", "火灾", "冒烟", "冒黑烟", "浓烟", "有烟了", "烧焦", "烧起来", "火苗", "火花", "电线起火", "爆炸", "炸了"]),
    ("有人被困", &["被困", "困在", "困住", "关在电梯", "卡在电梯", "电梯里出不来", "出不来了", "锁在里面", "车里有人", "里面还有人"]),
    ("溺水", &["溺水", "落水", "掉河里", "掉进河", "掉水里", "掉进水", "有人淹", "快淹死", "掉冰窟窿"]),
    ("急病", &["晕倒", "昏倒", "叫不醒", "昏迷", "没有呼吸", "没呼吸", "抽搐", "大出血", "心脏病发", "急救车", "120还没", "打了120"]),
    ("自杀或自伤风险", &["自杀", "轻生", "跳楼", "不想活", "活不下去", "寻死", "割腕", "喝药", "要跳下去", "往下跳", "跳下去", "结束自己", "爬到楼顶", "爬到塔吊"]),
    ("暴力威胁", &["持刀", "拿刀", "拿着刀", "砍人", "砍死", "杀人", "要杀", "打人", "殴打", "家暴", "行凶", "威胁要", "扬言", "报复社会", "拿着棍子", "喊救命", "救救"]),
    ("坍塌或坠落", &["坍塌", "塌了", "倒塌", "塌方", "要塌", "快塌", "会不会塌", "塌下去", "墙体开裂", "承重墙", "房子裂", "楼裂", "掉下来砸", "砸下来", "脚手架倒", "随时要倒", "要倒了", "井盖没了", "井盖丢", "窟窿", "差点掉下去"]),
    ("积水或内涝", &["水淹", "被淹", "淹了", "进水了", "倒灌", "内涝", "积水很深", "水特别深", "水很深", "水都到", "水漫", "决堤", "管道爆裂", "水管爆", "爆管", "管子爆", "往外喷"]),
    ("触电", &["触电", "漏电", "电线掉", "高压线掉", "电线断了", "刮断", "电着人"]),
    ("烫伤或冻伤风险", &["烫伤", "冒白汽", "冻死", "冻坏了"]),
];

/// Words that, right before a signal, cancel it: negations ("没有燃气味"), hypotheticals
/// ("容易着火" is a hazard to fix, not a fire now), and ignition ("热水器打不着火" is a water
/// pressure or gas supply complaint).
const NEGATIONS: &[&str] = &["没有", "没", "不是", "并没有", "无", "怕", "容易", "万一", "会不会", "防止", "以防", "担心", "一旦", "要是", "引发", "造成", "打不", "点不"];

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Urgency {
    pub urgent: bool,
    /// What was recognised, e.g. "燃气泄漏 (燃气味)".
    pub reasons: Vec<String>,
}

pub fn assess(text: &str) -> Urgency {
    let mut reasons = Vec::new();
    for (reason, phrases) in SIGNALS {
        let hit = phrases.iter().find(|p| {
            text.match_indices(*p).any(|(at, _)| {
                let before = &text[..at];
                !NEGATIONS.iter().any(|n| before.ends_with(n))
            })
        });
        if let Some(p) = hit {
            reasons.push(format!("{reason} ({p})"));
        }
    }
    Urgency { urgent: !reasons.is_empty(), reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangers_are_flagged_with_reasons() {
        for (text, reason) in [
            ("市民：楼道里一股燃气味，特别冲", "燃气泄漏"),
            ("对面楼着火了，冒黑烟", "火灾"),
            ("我妈被困在电梯里了", "有人被困"),
            ("有个孩子掉河里了", "溺水"),
            ("他说不想活了要跳楼", "自杀或自伤风险"),
            ("邻居拿刀威胁要砍人", "暴力威胁"),
            ("老房子墙体开裂，感觉要塌", "坍塌"),
            ("路边井盖没了，差点掉下去", "坍塌或坠落"),
            ("我爸突然晕倒了叫不醒", "急病"),
            ("地下室进水了，水管爆了", "积水或内涝"),
        ] {
            let u = assess(text);
            assert!(u.urgent && u.reasons.iter().any(|r| r.starts_with(reason)), "{text}: {u:?}");
        }
    }

    #[test]
    fn ordinary_and_negated_calls_are_not_urgent() {
        for text in ["楼下烧烤店油烟太大了", "孩子上学入学手续怎么办理", "物业费涨价了", "检查过了，没有燃气味", "我的个人信息泄漏了，天天接到骚扰电话", "晚上吵得睡不着了", "楼道里电动车充电，万一着火怎么办", "水压太低，热水器打不着火", "燃气灶点不着火了"] {
            assert!(!assess(text).urgent, "{text}");
        }
    }
}
