//! Rule variables: the address groups (`$HOME_NET`) and port groups (`$HTTP_PORTS`) that
//! rule headers refer to, with the defaults of Suricata's shipped `suricata.yaml`.

use std::collections::HashMap;

use crate::error::Error;
use crate::header::{parse_addresses, parse_ports};

/// Address and port variables for rule headers.
///
/// A name is an address group or a port group, as in `suricata.yaml`'s `address-groups`
/// and `port-groups`. [`Vars::set`] decides by name (existing entry first, then a name
/// ending in `_PORTS` or `_PORT` is a port group); [`Vars::set_address`] and
/// [`Vars::set_port`] say it explicitly.
#[derive(Debug, Clone)]
pub struct Vars {
    addresses: HashMap<String, String>,
    ports: HashMap<String, String>,
}

const DEFAULT_ADDRESSES: &[(&str, &str)] = &[
    ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
    ("EXTERNAL_NET", "!$HOME_NET"),
    ("HTTP_SERVERS", "$HOME_NET"),
    ("SMTP_SERVERS", "$HOME_NET"),
    ("SQL_SERVERS", "$HOME_NET"),
    ("DNS_SERVERS", "$HOME_NET"),
    ("TELNET_SERVERS", "$HOME_NET"),
    ("AIM_SERVERS", "$EXTERNAL_NET"),
    ("DC_SERVERS", "$HOME_NET"),
    ("DNP3_SERVER", "$HOME_NET"),
    ("DNP3_CLIENT", "$HOME_NET"),
    ("MODBUS_CLIENT", "$HOME_NET"),
    ("MODBUS_SERVER", "$HOME_NET"),
    ("ENIP_CLIENT", "$HOME_NET"),
    ("ENIP_SERVER", "$HOME_NET"),
];

const DEFAULT_PORTS: &[(&str, &str)] = &[
    ("HTTP_PORTS", "80"),
    ("SHELLCODE_PORTS", "!80"),
    ("ORACLE_PORTS", "1521"),
    ("SSH_PORTS", "22"),
    ("DNP3_PORTS", "20000"),
    ("MODBUS_PORTS", "502"),
    ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
    ("FTP_PORTS", "21"),
    ("GENEVE_PORTS", "6081"),
    ("VXLAN_PORTS", "4789"),
    ("TEREDO_PORTS", "3544"),
];

impl Default for Vars {
    fn default() -> Self {
        let own = |t: &[(&str, &str)]| {
            t.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Vars {
            addresses: own(DEFAULT_ADDRESSES),
            ports: own(DEFAULT_PORTS),
        }
    }
}

fn strip(name: &str) -> &str {
    name.strip_prefix('$').unwrap_or(name)
}

impl Vars {
    /// No variables at all (every `$VAR` in a header is then an error).
    pub fn empty() -> Self {
        Vars {
            addresses: HashMap::new(),
            ports: HashMap::new(),
        }
    }

    /// Set a variable by name (with or without `$`), checking that its value parses.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let n = strip(name);
        if self.ports.contains_key(n)
            || (!self.addresses.contains_key(n) && (n.ends_with("_PORTS") || n.ends_with("_PORT")))
        {
            self.set_port(n, value)
        } else {
            self.set_address(n, value)
        }
    }

    /// Set an address group, e.g. `set_address("HOME_NET", "[10.0.0.0/8]")`.
    pub fn set_address(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let n = strip(name).to_string();
        let old = self.addresses.insert(n.clone(), value.to_string());
        if let Err(reason) = parse_addresses(value, self) {
            match old {
                Some(o) => self.addresses.insert(n.clone(), o),
                None => self.addresses.remove(&n),
            };
            return Err(Error::InvalidVariable { name: n, reason });
        }
        Ok(())
    }

    /// Set a port group, e.g. `set_port("HTTP_PORTS", "[80,8080]")`.
    pub fn set_port(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let n = strip(name).to_string();
        let old = self.ports.insert(n.clone(), value.to_string());
        if let Err(reason) = parse_ports(value, self) {
            match old {
                Some(o) => self.ports.insert(n.clone(), o),
                None => self.ports.remove(&n),
            };
            return Err(Error::InvalidVariable { name: n, reason });
        }
        Ok(())
    }

    /// The value of an address group.
    pub fn address(&self, name: &str) -> Option<&str> {
        self.addresses.get(strip(name)).map(String::as_str)
    }

    /// The value of a port group.
    pub fn port(&self, name: &str) -> Option<&str> {
        self.ports.get(strip(name)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_suricata_yaml() {
        let v = Vars::default();
        assert_eq!(
            v.address("HOME_NET"),
            Some("[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]")
        );
        assert_eq!(v.address("$EXTERNAL_NET"), Some("!$HOME_NET"));
        assert_eq!(v.port("HTTP_PORTS"), Some("80"));
        assert_eq!(v.port("FILE_DATA_PORTS"), Some("[$HTTP_PORTS,110,143]"));
    }

    #[test]
    fn set_picks_group_kind_by_name_and_validates() {
        let mut v = Vars::default();
        v.set("HTTP_PORTS", "[80,8080]").unwrap();
        assert_eq!(v.port("HTTP_PORTS"), Some("[80,8080]"));
        v.set("$HOME_NET", "10.1.0.0/16").unwrap();
        assert_eq!(v.address("HOME_NET"), Some("10.1.0.0/16"));
        v.set("MY_PORT", "22").unwrap();
        assert_eq!(v.port("MY_PORT"), Some("22"));
        let err = v.set("HOME_NET", "10.0.0.300").unwrap_err();
        assert!(err.to_string().contains("HOME_NET"), "{err}");
        assert_eq!(
            v.address("HOME_NET"),
            Some("10.1.0.0/16"),
            "bad value must not replace the old one"
        );
        assert!(v.set("HTTP_PORTS", "99999").is_err());
    }

    #[test]
    fn self_reference_is_an_error_not_a_hang() {
        let mut v = Vars::default();
        assert!(v.set("HOME_NET", "$HOME_NET").is_err());
    }
}
