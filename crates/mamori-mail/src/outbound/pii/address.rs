//! Postal addresses: a line with a postal code marked `〒123-4567`, or a prefecture followed
//! by a city, ward, town, village or county (`東京都千代田区`, `大阪府堺市`). Counted by
//! distinct line, which in a CSV or spreadsheet is one person.

use regex::Regex;
use std::sync::LazyLock;

pub const CODE: &str = "mail.pii_address";

static POSTAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"〒\s?\d{3}-?\d{4}").expect("valid regex"));
static PREFECTURE_CITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:北海道|東京都|京都府|大阪府|(?:青森|岩手|宮城|秋田|山形|福島|茨城|栃木|群馬|埼玉|千葉|神奈川|新潟|富山|",
        r"石川|福井|山梨|長野|岐阜|静岡|愛知|三重|滋賀|兵庫|奈良|和歌山|鳥取|島根|岡山|広島|山口|徳島|香川|",
        r"愛媛|高知|福岡|佐賀|長崎|熊本|大分|宮崎|鹿児島|沖縄)県)\s?[^\s,\t]{1,12}?[市区町村郡]"
    ))
    .expect("valid regex")
});

pub fn find(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| POSTAL.is_match(l) || PREFECTURE_CITY.is_match(l))
        .map(|l| l.trim().chars().take(200).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_and_prefecture_addresses() {
        let text = "〒100-0001 千代田1-1\n山田,大阪府堺市堺区1-2\n神奈川県横浜市西区\n東京タワー\n123-4567\n";
        assert_eq!(find(text).len(), 3);
    }
}
