//! Pure encoders and parsers of the wire formats the scanner speaks itself: a TLS 1.0/1.1
//! ClientHello and the first server record, X.509 DER dates and names, DNS TXT queries.
//! No I/O; every input is treated as hostile and every read is bounds-checked.

pub mod der;
pub mod dns;
pub mod tls_hello;
