//! The Suricata rule language (as used by ET Open): parse, compile, match. No I/O.
