//! Japanese phone numbers: ten digits starting with 0 for fixed lines (`03-1234-5678`),
//! eleven for mobile and IP phones (`090-1234-5678`, `050-…`), or the same after `+81`.
//! Toll-free and navigation-dial numbers (0120, 0800, 0570) belong to companies, not
//! people, and are not counted.

use super::Run;

pub const CODE: &str = "mail.pii_phone";

/// The national form of a phone number run, if it is one.
pub fn national(run: &Run) -> Option<String> {
    let digits = if run.plus {
        format!("0{}", run.digits.strip_prefix("81")?)
    } else {
        run.digits.clone()
    };
    if !digits.starts_with('0') || digits.starts_with("00") {
        return None;
    }
    let groups_ok =
        run.groups.len() == 1 || run.groups.len() == 3 || (run.plus && run.groups.len() == 4);
    if !groups_ok {
        return None;
    }
    for business in ["0120", "0800", "0570", "0990"] {
        if digits.starts_with(business) {
            return None;
        }
    }
    let mobile = ["020", "050", "060", "070", "080", "090"]
        .iter()
        .any(|p| digits.starts_with(p));
    let ok = if mobile {
        digits.len() == 11
    } else {
        digits.len() == 10
    };
    ok.then_some(digits)
}

pub fn find(runs: &[Run]) -> Vec<String> {
    runs.iter().filter_map(national).collect()
}

#[cfg(test)]
mod tests {
    use super::super::digit_runs;
    use super::*;

    #[test]
    fn fixed_mobile_and_international_forms() {
        let text = "03-1234-5678, 090-1234-5678, 0312345679, +81-90-1111-2222, 0120-123-456, 12-3456-7890, 090-1234-567";
        assert_eq!(
            find(&digit_runs(text)),
            vec!["0312345678", "09012345678", "0312345679", "09011112222"]
        );
    }
}
