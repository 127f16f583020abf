//! Transformations (`t:lowercase`, `t:urlDecodeUni`, ...): pure functions from bytes to bytes
//! applied to a variable's value before an operator sees it.
//!
//! CONTRACT (used by the engine): [`Transform::parse`] maps a SecLang name (case-insensitive)
//! to a transform, [`Transform::apply`] runs it, borrowing the input when nothing changes.
//! `t:none` is [`Transform::None`]: the engine treats it as "drop the transforms so far"; its
//! `apply` is the identity.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    None,
    Lowercase,
}

impl Transform {
    pub fn parse(name: &str) -> Option<Transform> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(Transform::None),
            "lowercase" => Some(Transform::Lowercase),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Lowercase => "lowercase",
        }
    }

    pub fn apply(self, input: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Transform::None => Cow::Borrowed(input),
            Transform::Lowercase => {
                if input.iter().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(input.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(input)
                }
            }
        }
    }
}
