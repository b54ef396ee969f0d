//! Counting connections by address: the key the caps and the failed-join limits use, and
//! the per-address counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The key connection caps and failed-join limits count by: the address itself for IPv4,
/// the /64 network for IPv6 (one host usually has a whole /64).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Open TCP connections per address key.
#[derive(Debug, Default)]
pub struct ConnCounts {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnCounts {
    /// Counts one more connection for `key`, unless it has `cap` already.
    pub fn try_add(&self, key: IpAddr, cap: usize) -> bool {
        let mut map = self.per_ip.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(key).or_insert(0);
        if *n >= cap {
            return false;
        }
        *n += 1;
        true
    }

    /// One connection of `key` closed.
    pub fn remove(&self, key: IpAddr) {
        let mut map = self.per_ip.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_up_to_the_cap() {
        let c = ConnCounts::default();
        let a = ip_key("198.18.0.1".parse().expect("ip"));
        assert!(c.try_add(a, 2) && c.try_add(a, 2) && !c.try_add(a, 2));
        c.remove(a);
        assert!(c.try_add(a, 2));
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().expect("ip");
        assert_eq!(ip_key(v6), "2001:db8:1:2::".parse::<IpAddr>().expect("ip"));
    }
}
