//! Verdicts on hand-picked values, one family per test.

use super::detect;

fn flagged(s: &str) -> bool {
    detect(s.as_bytes())
}

#[test]
fn script_capable_tags_are_xss() {
    for s in [
        "<script>alert(1)</script>",
        "<ScRiPt>alert(1)</sCrIpT>",
        "<iframe src=//evil>",
        "<svg/onload=alert(1)>",
        "<object data=x>",
        "<embed src=x>",
        "www.github.com<script><img><iframe>",
        "<math><maction xlink:href=javascript:alert(1)>",
    ] {
        assert!(flagged(s), "{s}");
    }
}

#[test]
fn event_handlers_are_xss() {
    for s in [
        "<img src=x onerror=alert(1)>",
        "<body onload=alert(1)>",
        "\" onmouseover=\"alert(1)",
        "\"onmouseover='prompt(document.cookie)'\"",
        "' autofocus onfocus=alert(1) x='",
        "x onmouseover=alert(1)",
        "<x onbegin=`write(1)`>",
    ] {
        assert!(flagged(s), "{s}");
    }
}

#[test]
fn script_urls_are_xss() {
    for s in [
        "javascript:alert(1)",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"jav\tascript:alert(1)\">x</a>",
        "<a href=\"&#106;avascript:alert(1)\">x</a>",
        "<a href=\"javascript&colon;alert(1)\">x</a>",
        "<a href=data:text/html;base64,PHNjcmlwdD4=>x</a>",
        "<div style=\"width:expression(alert(1))\">",
        "<a style=\"-o-link:'javascript:alert(1)'\">X</a>",
    ] {
        assert!(flagged(s), "{s}");
    }
}

#[test]
fn parser_tricks_are_xss() {
    for s in [
        "<!--[if gte IE 4]><script>alert(1)</script><![endif]-->",
        "<!DOCTYPE x [<!ENTITY x SYSTEM \"http://evil\">]>",
        "<?xml-stylesheet href=\"javascript:alert(1)\"?>",
    ] {
        assert!(flagged(s), "{s}");
    }
}

#[test]
fn ordinary_text_and_markup_are_not_xss() {
    for s in [
        "hello <world>",
        "a < b and c > d",
        "I'm online",
        "price: 100",
        "<b>bold</b>",
        "x=1",
        "https://example.com/a?b=c",
        "mention: online=yes",
        "<a href=\"https://example.com/\">link</a>",
        "<img src=\"cat.png\" alt=\"a cat\">",
        "I <3 you",
        "He said \"hello\" and left",
        "O'Reilly's book: chapter 3",
        "data: 1, 2, 3",
        "<!-- a comment -->",
        "<p style=\"color: red\">red</p>",
        "日本語のテキスト <東京>",
        "{\"key\": \"value\", \"n\": 1}",
    ] {
        assert!(!flagged(s), "{s}");
    }
}

#[test]
fn long_input_is_walked_in_linear_time() {
    let s = "<a b=".repeat(20_000);
    let t = std::time::Instant::now();
    let _ = detect(s.as_bytes());
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
}
