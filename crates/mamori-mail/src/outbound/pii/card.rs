//! Payment card numbers: 13 to 19 digits, plain or in groups of four (Amex 4-6-5), passing
//! the Luhn check and starting like a card brand (Visa, Mastercard, JCB, Amex, Diners,
//! Discover, UnionPay).

use super::Run;

pub const CODE: &str = "mail.pii_card";

/// The Luhn (mod 10) check.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn brand(digits: &str) -> bool {
    let p2: u32 = digits.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let p4: u32 = digits.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    digits.starts_with('4')
        || (51..=55).contains(&p2)
        || (2221..=2720).contains(&p4)
        || (3528..=3589).contains(&p4)
        || p2 == 34
        || p2 == 37
        || p2 == 36
        || p2 == 38
        || (3000..=3059).contains(&p4)
        || p4 == 6011
        || p2 == 65
        || p2 == 62
}

fn grouped_like_a_card(r: &Run) -> bool {
    let g = &r.groups;
    g.len() == 1
        || g == &[4, 6, 5]
        || g == &[4, 6, 4]
        || (g.len() >= 3
            && g[..g.len() - 1].iter().all(|&n| n == 4)
            && (1..=4).contains(&g[g.len() - 1]))
}

pub fn find(runs: &[Run]) -> Vec<String> {
    runs.iter()
        .filter(|r| !r.plus && (13..=19).contains(&r.digits.len()))
        .filter(|r| grouped_like_a_card(r) && brand(&r.digits) && luhn(&r.digits))
        .map(|r| r.digits.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::digit_runs;
    use super::*;

    #[test]
    fn test_card_numbers_are_found() {
        let text = "Visa 4111-1111-1111-1111 / JCB 3530111333300000 / Amex 3782 822463 10005 / bad 4111 1111 1111 1112 / order 1234567890123456";
        let found = find(&digit_runs(text));
        assert_eq!(
            found,
            vec!["4111111111111111", "3530111333300000", "378282246310005"]
        );
        assert!(luhn("79927398713"));
    }
}
