//! Individual numbers (マイナンバー): twelve digits, the last a check digit.
//!
//! The check digit follows the official formula (個人番号の検査用数字, 総務省令第85号):
//! with P(n) the n-th digit counted from the right of the first eleven and Q(n) = n + 1
//! for n ≤ 6 and n − 5 for n ≥ 7, r = Σ P(n)·Q(n) mod 11; the check digit is 0 when r ≤ 1
//! and 11 − r otherwise. Written as 12 digits or 4-4-4.

use super::Run;

pub const CODE: &str = "mail.pii_my_number";

/// Whether twelve digits form a valid individual number.
pub fn valid(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 12 || digits.len() != 12 {
        return false;
    }
    d[11] == check_digit(&d[..11])
}

/// The check digit of the first eleven digits (left to right).
pub fn check_digit(first_eleven: &[u32]) -> u32 {
    let sum: u32 = (1..=11)
        .map(|n| {
            let p = first_eleven[11 - n];
            let q = if n <= 6 { n as u32 + 1 } else { n as u32 - 5 };
            p * q
        })
        .sum();
    let r = sum % 11;
    if r <= 1 {
        0
    } else {
        11 - r
    }
}

/// Whether the text names the data (then one number is enough to hold).
pub fn mentioned(text: &str) -> bool {
    text.contains("マイナンバー")
        || text.contains("個人番号")
        || text.to_ascii_lowercase().contains("my number")
}

pub fn find(runs: &[Run]) -> Vec<String> {
    runs.iter()
        .filter(|r| !r.plus && (r.groups == [12] || r.groups == [4, 4, 4]))
        .filter(|r| valid(&r.digits))
        .map(|r| r.digits.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::digit_runs;
    use super::*;

    /// A valid number from eleven digits.
    fn make(first: u64) -> String {
        let s = format!("{first:011}");
        let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
        format!("{s}{}", check_digit(&d))
    }

    #[test]
    fn check_digit_follows_the_official_formula() {
        // 12345678901: P1..P11 = 1,0,9,8,7,6,5,4,3,2,1 with weights 2..7,2..6
        // sum = 2+0+36+40+42+42+10+12+12+10+6 = 212; 212 mod 11 = 3; check = 8.
        assert!(valid("123456789018"));
        assert!(!valid("123456789017"));
        assert_eq!(check_digit(&[0; 11]), 0);
        assert!(valid(&make(98765432109)));
    }

    #[test]
    fn written_forms_and_neighbours() {
        let n = make(12345678901);
        let spaced = format!("{} {} {}", &n[..4], &n[4..8], &n[8..]);
        let text = format!("番号: {n}\n{spaced}\n注文番号 {n}9\nA{n}");
        let found = find(&digit_runs(&text));
        assert_eq!(found, vec![n.clone(), n]);
    }
}
