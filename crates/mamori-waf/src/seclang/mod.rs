//! SecLang parser.
