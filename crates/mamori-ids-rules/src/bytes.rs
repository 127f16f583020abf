//! `byte_test`, `byte_jump` and `byte_extract`: read a number from the buffer (binary or
//! ASCII), then compare it, jump by it, or keep it in a rule-local variable that later
//! keywords use as an offset, depth or value.

use crate::content::Num;
use crate::error::{bail, RResult};
use crate::options::{int, parts, uint};

/// How many `byte_extract` variables one rule may define.
pub const MAX_VARS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Big,
    Little,
}

/// How the bytes turn into a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extract {
    pub nbytes: u8,
    pub endian: Endian,
    /// `string,dec|hex|oct`: ASCII digits in this base.
    pub string_base: Option<u32>,
    pub bitmask: Option<u64>,
}

impl Extract {
    /// Read at `pos`; returns the value and how many bytes were consumed.
    fn read(&self, buf: &[u8], pos: usize) -> Option<(u64, usize)> {
        // `string` with 0 bytes reads digits as far as they go (Suricata hands the
        // unterminated buffer to strtoull); 23 bytes bound any 64-bit number.
        let n = if self.nbytes == 0 {
            buf.len().saturating_sub(pos).min(23)
        } else {
            self.nbytes as usize
        };
        let bytes = buf.get(pos..pos.checked_add(n)?)?;
        let (mut v, used) = match self.string_base {
            None => {
                let mut v = 0u64;
                match self.endian {
                    Endian::Big => bytes.iter().for_each(|&b| v = v << 8 | u64::from(b)),
                    Endian::Little => bytes.iter().rev().for_each(|&b| v = v << 8 | u64::from(b)),
                }
                (v, n)
            }
            Some(base) => parse_ascii(bytes, base)?,
        };
        if let Some(mask) = self.bitmask {
            v &= mask;
            if v != 0 {
                v >>= mask.trailing_zeros();
            }
        }
        Some((v, used))
    }
}

/// strtoull-like: optional leading spaces and `0x` for hex; at least one digit.
fn parse_ascii(bytes: &[u8], base: u32) -> Option<(u64, usize)> {
    let mut i = 0;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    if base == 16 && bytes.len() >= i + 2 && bytes[i] == b'0' && (bytes[i + 1] | 0x20) == b'x' {
        i += 2;
    }
    let start = i;
    let mut v: u64 = 0;
    while i < bytes.len() {
        let Some(d) = (bytes[i] as char).to_digit(base) else {
            break;
        };
        v = v.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
        i += 1;
    }
    (i > start).then_some((v, i))
}

/// Position where reading starts: `offset` from buffer start, or from `cur` when relative.
fn start(buf_len: usize, cur: usize, relative: bool, offset: i64) -> Option<usize> {
    let base = if relative { cur as i64 } else { 0 };
    let p = base.checked_add(offset)?;
    if p < 0 || p as usize >= buf_len {
        return None;
    }
    Some(p as usize)
}

/// Shared option parsing for the three keywords.
struct Common {
    relative: bool,
    endian: Endian,
    string_base: Option<u32>,
    string: bool,
    bitmask: Option<u64>,
    dce: bool,
}

fn common(kw: &str, opt: &str, c: &mut Common) -> RResult<bool> {
    match opt {
        "relative" => c.relative = true,
        "big" => c.endian = Endian::Big,
        "little" => c.endian = Endian::Little,
        "string" => c.string = true,
        "dec" => c.string_base = Some(10),
        "hex" => c.string_base = Some(16),
        "oct" => c.string_base = Some(8),
        "dce" => c.dce = true,
        _ => {
            if let Some(m) = opt.strip_prefix("bitmask") {
                let v = m.trim();
                let n = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    u64::from_str_radix(h, 16).ok()
                } else {
                    v.parse().ok()
                };
                match n {
                    Some(n) if n != 0 => c.bitmask = Some(n),
                    _ => bail!(kw, "invalid bitmask {v:?}"),
                }
                return Ok(true);
            }
            return Ok(false);
        }
    }
    Ok(true)
}

fn finish_extract(kw: &str, nbytes: u64, c: &Common) -> RResult<Extract> {
    if c.dce {
        bail!(kw, "dce option needs DCE/RPC state, not supported");
    }
    let base = match (c.string, c.string_base) {
        (true, b) => Some(b.unwrap_or(10)),
        (false, Some(_)) => bail!(kw, "dec/hex/oct need 'string'"),
        (false, None) => None,
    };
    let max = if base.is_some() { 23 } else { 8 };
    if (nbytes == 0 && base.is_none()) || nbytes > max {
        bail!(kw, "number of bytes {nbytes} out of range 1..={max}");
    }
    Ok(Extract {
        nbytes: nbytes as u8,
        endian: c.endian,
        string_base: base,
        bitmask: c.bitmask,
    })
}

/// Resolve a number or a variable name.
fn num_or_var(kw: &str, s: &str, vars: &[String]) -> RResult<Num> {
    match int(kw, s) {
        Ok(n) => Ok(Num::Lit(n)),
        Err(_) => match vars.iter().position(|v| v == s.trim()) {
            Some(i) => Ok(Num::Var(i as u8)),
            None => bail!(kw, "{s:?} is neither a number nor a byte_extract variable"),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOp {
    Lt,
    Gt,
    Eq,
    Le,
    Ge,
    And,
    Xor,
}

/// `byte_test:nbytes, [!]op, value, offset [, relative][, big|little][, string, base][, bitmask N]`
#[derive(Debug, Clone)]
pub struct ByteTest {
    pub extract: Extract,
    pub op: TestOp,
    pub negated: bool,
    pub value: Num,
    pub offset: Num,
    pub relative: bool,
}

impl ByteTest {
    pub fn parse(v: &str, vars: &[String]) -> RResult<ByteTest> {
        const KW: &str = "byte_test";
        let p = parts(v);
        if p.len() < 4 {
            bail!(KW, "needs nbytes, operator, value, offset");
        }
        let nbytes = uint(KW, p[0], 64)?;
        let (negated, op) = match p[1].strip_prefix('!') {
            Some(r) => (true, r.trim()),
            None => (false, p[1]),
        };
        let op = match op {
            "<" => TestOp::Lt,
            ">" => TestOp::Gt,
            "=" => TestOp::Eq,
            "" if negated => TestOp::Eq,
            "<=" => TestOp::Le,
            ">=" => TestOp::Ge,
            "&" => TestOp::And,
            "^" => TestOp::Xor,
            other => bail!(KW, "unknown operator {other:?}"),
        };
        let value = num_or_var(KW, p[2], vars)?;
        let offset = num_or_var(KW, p[3], vars)?;
        let mut c = Common {
            relative: false,
            endian: Endian::Big,
            string_base: None,
            string: false,
            bitmask: None,
            dce: false,
        };
        for o in &p[4..] {
            if !common(KW, o, &mut c)? {
                bail!(KW, "unknown option {o:?}");
            }
        }
        Ok(ByteTest {
            extract: finish_extract(KW, nbytes, &c)?,
            op,
            negated,
            value,
            offset,
            relative: c.relative,
        })
    }

    pub fn test(&self, buf: &[u8], cur: usize, vars: &[u64]) -> bool {
        let Some(pos) = start(buf.len(), cur, self.relative, self.offset.get(vars)) else {
            return false;
        };
        let Some((val, _)) = self.extract.read(buf, pos) else {
            return false;
        };
        let want = self.value.get(vars) as u64;
        let r = match self.op {
            TestOp::Lt => val < want,
            TestOp::Gt => val > want,
            TestOp::Eq => val == want,
            TestOp::Le => val <= want,
            TestOp::Ge => val >= want,
            TestOp::And => val & want != 0,
            TestOp::Xor => val ^ want != 0,
        };
        r != self.negated
    }
}

/// `byte_jump:nbytes, offset [, relative][, multiplier N][, big|little][, string, base]
/// [, align][, from_beginning|from_end][, post_offset N][, bitmask N]`
#[derive(Debug, Clone)]
pub struct ByteJump {
    pub extract: Extract,
    pub offset: Num,
    pub relative: bool,
    pub multiplier: u64,
    pub align: bool,
    pub from_beginning: bool,
    pub from_end: bool,
    pub post_offset: i64,
}

impl ByteJump {
    pub fn parse(v: &str, vars: &[String]) -> RResult<ByteJump> {
        const KW: &str = "byte_jump";
        let p = parts(v);
        if p.len() < 2 {
            bail!(KW, "needs nbytes and offset");
        }
        let nbytes = uint(KW, p[0], 64)?;
        let offset = num_or_var(KW, p[1], vars)?;
        let mut c = Common {
            relative: false,
            endian: Endian::Big,
            string_base: None,
            string: false,
            bitmask: None,
            dce: false,
        };
        let mut j = ByteJump {
            extract: Extract {
                nbytes: 1,
                endian: Endian::Big,
                string_base: None,
                bitmask: None,
            },
            offset,
            relative: false,
            multiplier: 1,
            align: false,
            from_beginning: false,
            from_end: false,
            post_offset: 0,
        };
        for o in &p[2..] {
            if common(KW, o, &mut c)? {
                continue;
            }
            match *o {
                "align" => j.align = true,
                "from_beginning" => j.from_beginning = true,
                "from_end" => j.from_end = true,
                _ => {
                    if let Some(m) = o.strip_prefix("multiplier") {
                        j.multiplier = uint(KW, m, 65535)?;
                    } else if let Some(m) = o.strip_prefix("post_offset") {
                        j.post_offset = int(KW, m)?;
                    } else {
                        bail!(KW, "unknown option {o:?}");
                    }
                }
            }
        }
        if j.from_beginning && j.from_end {
            bail!(KW, "from_beginning and from_end both given");
        }
        j.extract = finish_extract(KW, nbytes, &c)?;
        j.relative = c.relative;
        Ok(j)
    }

    /// The new buffer position, or `None` when the jump fails.
    pub fn jump(&self, buf: &[u8], cur: usize, vars: &[u64]) -> Option<usize> {
        let pos = start(buf.len(), cur, self.relative, self.offset.get(vars))?;
        let (val, used) = self.extract.read(buf, pos)?;
        let mut val = val.checked_mul(self.multiplier)?;
        if self.align && val % 4 != 0 {
            val = val.checked_add(4 - val % 4)?;
        }
        let val = i64::try_from(val).ok()?;
        let base = if self.from_beginning {
            0
        } else if self.from_end {
            buf.len() as i64
        } else {
            (pos + used) as i64
        };
        let target = base.checked_add(val)?.checked_add(self.post_offset)?;
        if target > buf.len() as i64 {
            return None;
        }
        Some(target.max(0) as usize)
    }
}

/// `byte_extract:nbytes, offset, name [, relative][, multiplier N][, big|little][, string, base][, align N]`
#[derive(Debug, Clone)]
pub struct ByteExtract {
    pub extract: Extract,
    pub offset: i64,
    pub var: u8,
    pub relative: bool,
    pub multiplier: u64,
    pub align: u64,
}

impl ByteExtract {
    /// Parse; `vars` gets the new variable's name appended.
    pub fn parse(v: &str, vars: &mut Vec<String>) -> RResult<ByteExtract> {
        const KW: &str = "byte_extract";
        let p = parts(v);
        if p.len() < 3 {
            bail!(KW, "needs nbytes, offset and a variable name");
        }
        let nbytes = uint(KW, p[0], 64)?;
        let offset = int(KW, p[1])?;
        let name = p[2];
        if name.is_empty() || name.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            bail!(KW, "invalid variable name {name:?}");
        }
        let mut c = Common {
            relative: false,
            endian: Endian::Big,
            string_base: None,
            string: false,
            bitmask: None,
            dce: false,
        };
        let mut multiplier = 1;
        let mut align = 0;
        for o in &p[3..] {
            if common(KW, o, &mut c)? {
                continue;
            }
            if let Some(m) = o.strip_prefix("multiplier") {
                multiplier = uint(KW, m, 65535)?;
            } else if let Some(a) = o.strip_prefix("align") {
                align = uint(KW, a, 4)?;
                if align != 2 && align != 4 {
                    bail!(KW, "align must be 2 or 4");
                }
            } else {
                bail!(KW, "unknown option {o:?}");
            }
        }
        let var = match vars.iter().position(|x| x == name) {
            Some(i) => i,
            None => {
                if vars.len() >= MAX_VARS {
                    bail!(KW, "more than {MAX_VARS} variables");
                }
                vars.push(name.to_string());
                vars.len() - 1
            }
        };
        Ok(ByteExtract {
            extract: finish_extract(KW, nbytes, &c)?,
            offset,
            var: var as u8,
            relative: c.relative,
            multiplier,
            align,
        })
    }

    /// Store the value; returns the position after the extracted bytes.
    pub fn run(&self, buf: &[u8], cur: usize, vars: &mut [u64]) -> Option<usize> {
        let pos = start(buf.len(), cur, self.relative, self.offset)?;
        let (val, used) = self.extract.read(buf, pos)?;
        let mut val = val.checked_mul(self.multiplier)?;
        if self.align > 0 && val % self.align != 0 {
            val = val.checked_add(self.align - val % self.align)?;
        }
        *vars.get_mut(self.var as usize)? = val;
        Some(pos + used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_test_binary_and_string() {
        let t = ByteTest::parse("2,>,256,1", &[]).unwrap();
        assert!(t.test(b"\x00\x01\x01", 0, &[]));
        assert!(!t.test(b"\x00\x01\x00", 0, &[]));
        let t = ByteTest::parse("2,=,258,0,little", &[]).unwrap();
        assert!(t.test(b"\x02\x01", 0, &[]));
        let t = ByteTest::parse("1,!&,128,6,relative", &[]).unwrap();
        assert!(t.test(b"ab\x00\x00\x00\x00\x00\x00\x7f", 2, &[]));
        assert!(!t.test(b"ab\x00\x00\x00\x00\x00\x00\x80", 2, &[]));
        let t = ByteTest::parse("4,>,1000,0,string,dec", &[]).unwrap();
        assert!(t.test(b"1001", 0, &[]) && !t.test(b"0999", 0, &[]) && !t.test(b"abcd", 0, &[]));
        let t = ByteTest::parse("2,=,255,0,string,hex", &[]).unwrap();
        assert!(t.test(b"ff", 0, &[]));
        let t = ByteTest::parse("1,=,3,0,bitmask 0x0c", &[]).unwrap();
        assert!(t.test(b"\x0c", 0, &[]));
        assert!(!t.test(b"", 0, &[]), "no data: no match");
        assert!(ByteTest::parse("9,=,1,0", &[]).is_err());
        assert!(ByteTest::parse("0,=,1,0", &[]).is_err());
        let t = ByteTest::parse("0,>,100000,0,string,dec", &[]).unwrap();
        assert!(t.test(b"123456 rest", 0, &[]) && !t.test(b"99999", 0, &[]));
        assert!(ByteTest::parse("1,?,1,0", &[]).is_err());
        assert!(ByteTest::parse("1,=,1,0,dce", &[])
            .unwrap_err()
            .reason
            .contains("dce"));
    }

    #[test]
    fn byte_jump_moves_position() {
        let j = ByteJump::parse("1,0", &[]).unwrap();
        assert_eq!(j.jump(b"\x02abcd", 0, &[]), Some(3));
        let j = ByteJump::parse("1,0,relative,multiplier 2", &[]).unwrap();
        assert_eq!(j.jump(b"x\x02abcdef", 1, &[]), Some(6));
        let j = ByteJump::parse("1,0,align", &[]).unwrap();
        assert_eq!(j.jump(b"\x01abcdefg", 0, &[]), Some(5));
        let j = ByteJump::parse("2,-2,relative,from_beginning,little,post_offset 1", &[]).unwrap();
        assert_eq!(j.jump(b"\x03\x00abcdef", 2, &[]), Some(4));
        let j = ByteJump::parse("1,0", &[]).unwrap();
        assert_eq!(j.jump(b"\xffab", 0, &[]), None, "jump past the end fails");
        let j = ByteJump::parse("1,0,from_end,post_offset -2", &[]).unwrap();
        assert_eq!(j.jump(b"\x00abcd", 0, &[]), Some(3));
        assert!(ByteJump::parse("1,0,sideways", &[]).is_err());
    }

    #[test]
    fn byte_extract_feeds_later_keywords() {
        let mut names = Vec::new();
        let e = ByteExtract::parse("1,0,len,relative", &mut names).unwrap();
        assert_eq!(names, vec!["len".to_string()]);
        let mut vals = [0u64; MAX_VARS];
        assert_eq!(e.run(b"x\x05", 1, &mut vals), Some(2));
        assert_eq!(vals[0], 5);
        let t = ByteTest::parse("1,=,len,0", &names).unwrap();
        assert!(t.test(b"\x05", 0, &vals));
        assert!(ByteTest::parse("1,=,nope,0", &names).is_err());
    }
}
