//! JSON bodies into arguments, named as Coraza names them (`json.a.b`, `json.a.0`, and the
//! array `json.a` itself valued by its length).

use super::Limits;
use crate::request::Pair;

/// JSON into `json.a.b`-named arguments (array members `json.a.0`, a top-level scalar
/// `json`); numbers and booleans as written, `null` as an empty value. `Err` with the
/// parser's reason (or "nested too deep").
pub fn json(body: &[u8], limits: Limits, out: &mut Vec<Pair>) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("JSON parsing error: {e}"))?;
    let mut name = b"json".to_vec();
    walk(&v, &mut name, 0, limits, out)
}

fn walk(
    v: &serde_json::Value,
    name: &mut Vec<u8>,
    depth: usize,
    limits: Limits,
    out: &mut Vec<Pair>,
) -> Result<(), String> {
    if depth > limits.max_depth {
        return Err("JSON parsing error: nested too deep".into());
    }
    if out.len() >= limits.max_args {
        return Ok(());
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let len = name.len();
                name.push(b'.');
                name.extend_from_slice(k.as_bytes());
                walk(v, name, depth + 1, limits, out)?;
                name.truncate(len);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = name.len();
                name.push(b'.');
                name.extend_from_slice(i.to_string().as_bytes());
                walk(v, name, depth + 1, limits, out)?;
                name.truncate(len);
            }
            // The array itself, valued by its length (as Coraza does).
            if !items.is_empty() && out.len() < limits.max_args {
                out.push((name.clone(), items.len().to_string().into_bytes()));
            }
        }
        serde_json::Value::String(s) => out.push((name.clone(), s.as_bytes().to_vec())),
        serde_json::Value::Null => out.push((name.clone(), Vec::new())),
        other => out.push((name.clone(), other.to_string().into_bytes())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_json_a_b() {
        let mut p = Vec::new();
        json(
            br#"{"a":{"b":"x"},"c":[1,"y"],"d":null}"#,
            Limits::default(),
            &mut p,
        )
        .unwrap();
        assert_eq!(p[0], (b"json.a.b".to_vec(), b"x".to_vec()));
        assert_eq!(p[1], (b"json.c.0".to_vec(), b"1".to_vec()));
        assert_eq!(p[2], (b"json.c.1".to_vec(), b"y".to_vec()));
        assert_eq!(p[3], (b"json.c".to_vec(), b"2".to_vec()));
        assert_eq!(p[4], (b"json.d".to_vec(), Vec::new()));
        assert!(json(b"{", Limits::default(), &mut p).is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(json(deep.as_bytes(), Limits::default(), &mut Vec::new()).is_err());
    }
}
