//! PII masking: phone numbers, ID cards, bank cards and licence plates become placeholders.
//!
//! Masking runs before segmentation, logging and storage, so a missed number leaks everywhere
//! downstream; a wrongly masked number only costs a little context. The rules lean accordingly, but
//! service numbers (12345, 110, 120) and years stay, because they are what a complaint is about.
//!
//! The `regex` crate has no look-around, so numbers are found as maximal digit runs and classified
//! as a whole: a phone-shaped substring of an ID card can then never be matched on its own.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Phone,
    IdCard,
    BankCard,
    Plate,
}

impl PiiKind {
    pub const ALL: [PiiKind; 4] = [
        PiiKind::Phone,
        PiiKind::IdCard,
        PiiKind::BankCard,
        PiiKind::Plate,
    ];

    /// The text that replaces a match; the segmenter keeps each one as a single token.
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Phone => "[电话]",
            PiiKind::IdCard => "[身份证号]",
            PiiKind::BankCard => "[银行卡号]",
            PiiKind::Plate => "[车牌号]",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MaskedText {
    pub text: String,
    /// Kinds found, each once (plates first, then numbers in text order).
    pub found: Vec<PiiKind>,
}

/// Province abbreviation, issuing-office letter, optional separator dot, then the serial; the serial's
/// length and shape are checked in [`is_plate_serial`].
static PLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Za-z][·•・.\-]?([A-Za-z0-9]+)")
        .expect("plate pattern")
});

/// Digit groups joined by single spaces or dashes (138-1234-5678, 010 12345678), optionally ending
/// in the X check character of an ID card.
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9]+(?:[ \-][0-9]+)*[Xx]?").expect("number pattern"));

pub fn mask_pii(text: &str) -> MaskedText {
    let mut found = Vec::new();
    let plates_masked = mask_plates(text, &mut found);
    let text = mask_numbers(&plates_masked, &mut found);
    MaskedText { text, found }
}

fn record(found: &mut Vec<PiiKind>, kind: PiiKind) {
    if !found.contains(&kind) {
        found.push(kind);
    }
}

fn mask_plates(text: &str, found: &mut Vec<PiiKind>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in PLATE.captures_iter(text) {
        let (Some(whole), Some(serial)) = (caps.get(0), caps.get(1)) else {
            continue;
        };
        if !is_plate_serial(serial.as_str()) {
            continue;
        }
        out.push_str(&text[last..whole.start()]);
        out.push_str(PiiKind::Plate.placeholder());
        record(found, PiiKind::Plate);
        last = whole.end();
    }
    out.push_str(&text[last..]);
    out
}

/// Ordinary plates have a 5-character serial with at least one digit; new-energy plates have 6,
/// with D or F first (small cars) or last (large vehicles).
fn is_plate_serial(serial: &str) -> bool {
    let chars: Vec<char> = serial.chars().map(|c| c.to_ascii_uppercase()).collect();
    let has_digit = chars.iter().any(char::is_ascii_digit);
    // I and O are never used on plates; they would be read as 1 and 0.
    let valid_letters = chars
        .iter()
        .all(|&c| c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O'));
    if !has_digit || !valid_letters {
        return false;
    }
    match chars.len() {
        5 => true,
        6 => {
            let first_df = matches!(chars[0], 'D' | 'F');
            let last_df = matches!(chars[5], 'D' | 'F');
            (first_df && chars[1..].iter().filter(|c| c.is_ascii_digit()).count() >= 4)
                || (last_df && chars[..5].iter().all(char::is_ascii_digit))
        }
        _ => false,
    }
}

fn mask_numbers(text: &str, found: &mut Vec<PiiKind>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in NUMBER.find_iter(text) {
        out.push_str(&text[last..m.start()]);
        out.push_str(&mask_number_run(m.as_str(), found));
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

/// Classifies a run as a whole first (138-1234-5678 is one phone); if it is nothing as a whole, its
/// groups are classified one by one, since "2023 13812345678" is a year next to a phone.
fn mask_number_run(run: &str, found: &mut Vec<PiiKind>) -> String {
    let groups: Vec<&str> = run.split([' ', '-']).collect();
    // Merging across separators only for groups of 3 or more, the way numbers are read out in
    // chunks; "3 12345678901" is a count and a number, not a 12-digit number.
    // A leading 86 country code is the one short group that belongs to the number.
    let mergeable = groups.len() > 1
        && groups
            .iter()
            .enumerate()
            .all(|(i, g)| g.len() >= 3 || (i == 0 && *g == "86"));
    if groups.len() == 1 || mergeable {
        let digits: String = groups.concat();
        if let Some(kind) = classify(&digits, &groups) {
            record(found, kind);
            return kind.placeholder().to_string();
        }
    }
    if groups.len() == 1 {
        return run.to_string();
    }
    // Re-insert the original separators between the classified groups.
    let mut out = String::with_capacity(run.len());
    let mut rest = run;
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            // The separator is one ASCII byte, so slicing at 1 is on a char boundary.
            out.push_str(rest.get(..1).unwrap_or(""));
            rest = rest.get(1..).unwrap_or("");
        }
        match classify(group, &[group]) {
            Some(kind) => {
                record(found, kind);
                out.push_str(kind.placeholder());
            }
            None => out.push_str(group),
        }
        rest = rest.get(group.len()..).unwrap_or("");
    }
    out
}

/// `digits` is the run without separators; `groups` tells how it was written, for landlines.
fn classify(digits: &str, groups: &[&str]) -> Option<PiiKind> {
    let bytes = digits.as_bytes();
    let n = bytes.len();
    let check_x = matches!(bytes.last(), Some(b'X' | b'x'));
    let body_digits = bytes[..n.saturating_sub(usize::from(check_x))]
        .iter()
        .all(u8::is_ascii_digit);
    if !body_digits || n == 0 {
        return None;
    }
    if is_id_card(digits) {
        return Some(PiiKind::IdCard);
    }
    if check_x {
        // Not an ID: judge the digits alone, so "13812345678x" still masks the phone.
        return digits.get(..n - 1).and_then(|d| classify(d, &[d]));
    }
    if (16..=19).contains(&n) {
        return Some(PiiKind::BankCard);
    }
    if is_mobile(digits) || is_landline(digits, groups) {
        return Some(PiiKind::Phone);
    }
    // +86 / 0086 prefixed mobiles.
    for prefix in ["0086", "86"] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            if is_mobile(rest) {
                return Some(PiiKind::Phone);
            }
        }
    }
    None
}

fn is_mobile(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

/// 0 + 2–3 digit area code + 7–8 digit number. Written with a separator the split is known; without
/// one, any 10–12 digit run starting with a single 0 is taken (00 is an international prefix).
fn is_landline(d: &str, groups: &[&str]) -> bool {
    let b = d.as_bytes();
    if b.first() != Some(&b'0') || b.get(1) == Some(&b'0') {
        return false;
    }
    match groups {
        [area, number] => (3..=4).contains(&area.len()) && (7..=8).contains(&number.len()),
        _ => (10..=12).contains(&b.len()),
    }
}

/// 18 characters (17 digits and a digit or X) or the old 15-digit form, with a plausible birth date.
/// The checksum is not required: transcripts mistype digits, and a mistyped ID is still personal.
fn is_id_card(d: &str) -> bool {
    let b = d.as_bytes();
    let digit = |i: usize| -> Option<u32> { b.get(i).and_then(|c| (*c as char).to_digit(10)) };
    let number = |from: usize, len: usize| -> Option<u32> {
        (from..from + len).try_fold(0u32, |acc, i| digit(i).map(|v| acc * 10 + v))
    };
    let (year, month, day) = match b.len() {
        18 => {
            if !b[..17].iter().all(u8::is_ascii_digit) {
                return false;
            }
            match (number(6, 4), number(10, 2), number(12, 2)) {
                (Some(y), Some(m), Some(d)) => (y, m, d),
                _ => return false,
            }
        }
        15 => match (number(6, 2), number(8, 2), number(10, 2)) {
            (Some(y), Some(m), Some(d)) => (1900 + y, m, d),
            _ => return false,
        },
        _ => return false,
    };
    // Region codes start with 1–8 (11 Beijing … 82 Macau).
    let region_ok = matches!(b[0], b'1'..=b'8');
    region_ok
        && (1900..=2099).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(s: &str) -> (String, Vec<PiiKind>) {
        let m = mask_pii(s);
        (m.text, m.found)
    }

    #[test]
    fn mobile_phone() {
        assert_eq!(
            masked("电话13812345678"),
            ("电话[电话]".into(), vec![PiiKind::Phone])
        );
        assert_eq!(
            masked("打138-1234-5678或138 1234 5678").0,
            "打[电话]或[电话]"
        );
        assert_eq!(masked("+8613812345678").0, "+[电话]");
    }

    #[test]
    fn landline_phone() {
        assert_eq!(masked("座机010-62345678").0, "座机[电话]");
        assert_eq!(masked("座机01062345678").0, "座机[电话]");
        assert_eq!(masked("0451-1234567").0, "[电话]");
    }

    #[test]
    fn id_card_is_not_a_phone() {
        assert_eq!(
            masked("身份证110105199003071234"),
            ("身份证[身份证号]".into(), vec![PiiKind::IdCard])
        );
        assert_eq!(masked("11010519900307123X").0, "[身份证号]");
        assert_eq!(masked("11010519900307123x").0, "[身份证号]");
        assert_eq!(masked("110105900307123").0, "[身份证号]");
        // A phone-shaped substring inside an ID is never matched on its own.
        assert_eq!(masked("513812345678901234").1, vec![PiiKind::BankCard]);
    }

    #[test]
    fn bank_card() {
        assert_eq!(
            masked("卡号6222021234567890123"),
            ("卡号[银行卡号]".into(), vec![PiiKind::BankCard])
        );
        assert_eq!(masked("6222 0212 3456 7890").0, "[银行卡号]");
        // 18 digits without a plausible birth date is a card, not an ID.
        assert_eq!(masked("622202123456789012").1, vec![PiiKind::BankCard]);
    }

    #[test]
    fn plates() {
        assert_eq!(
            masked("车牌京A12345"),
            ("车牌[车牌号]".into(), vec![PiiKind::Plate])
        );
        assert_eq!(masked("京A·12345停在楼下").0, "[车牌号]停在楼下");
        assert_eq!(masked("京AD12345").0, "[车牌号]");
        assert_eq!(masked("京A12345D").0, "[车牌号]");
        assert_eq!(masked("京a1b2c3").0, "[车牌号]");
        // Not plates: no digit, too long, letter I.
        assert_eq!(masked("京ABCDE").0, "京ABCDE");
        assert_eq!(masked("京A1234567").1, vec![]);
        assert_eq!(masked("京AI2345").0, "京AI2345");
    }

    #[test]
    fn service_numbers_years_and_amounts_stay() {
        for s in [
            "打12345反映",
            "报警110",
            "急救120",
            "2023年3月",
            "欠薪30000元",
            "2023 12345",
            "房间1203",
        ] {
            let m = mask_pii(s);
            assert_eq!(m.text, s);
            assert!(m.found.is_empty(), "{s}");
        }
    }

    #[test]
    fn mixed_and_repeated_kinds() {
        let m = mask_pii("13812345678和13987654321，身份证110105199003071234，京A12345");
        assert_eq!(m.text, "[电话]和[电话]，身份证[身份证号]，[车牌号]");
        assert_eq!(
            m.found,
            vec![PiiKind::Plate, PiiKind::Phone, PiiKind::IdCard]
        );
    }

    #[test]
    fn year_next_to_phone_splits() {
        assert_eq!(masked("2023 13812345678").0, "2023 [电话]");
        assert_eq!(masked("+86 138 1234 5678").0, "+[电话]");
        assert_eq!(masked("13812345678x").0, "[电话]");
    }

    #[test]
    fn garbage_never_panics() {
        let long_digits = "9".repeat(10_000);
        let inputs = [
            "",
            "X",
            "-",
            "1-",
            "- -1",
            "京",
            "京A",
            "京A·",
            "😀13812345678😀",
            long_digits.as_str(),
            "１３８",
        ];
        for s in inputs {
            let _ = mask_pii(s);
        }
        assert_eq!(mask_pii("😀13812345678😀").text, "😀[电话]😀");
    }
}
