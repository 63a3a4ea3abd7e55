//! Genesys Cloud regions: `region` name → API and login hosts.
//!
//! The table is the Genesys Terraform provider's `getRegionMap` (genesys-scim-api.md §7).

/// One Genesys Cloud region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The name used in `region = "…"` and `GENESYSCLOUD_REGION` (e.g. `us-east-1`).
    pub name: &'static str,
    /// The region's domain: the API is `api.<domain>`, the login service `login.<domain>`.
    pub domain: &'static str,
}

impl Region {
    /// `https://api.<domain>`.
    pub fn api_base(&self) -> String {
        format!("https://api.{}", self.domain)
    }

    /// `https://login.<domain>`.
    pub fn login_base(&self) -> String {
        format!("https://login.{}", self.domain)
    }
}

/// Every Genesys Cloud region.
pub const REGIONS: &[Region] = &[
    Region {
        name: "us-east-1",
        domain: "mypurecloud.com",
    },
    Region {
        name: "us-east-2",
        domain: "use2.us-gov-pure.cloud",
    },
    Region {
        name: "us-west-2",
        domain: "usw2.pure.cloud",
    },
    Region {
        name: "ca-central-1",
        domain: "cac1.pure.cloud",
    },
    Region {
        name: "eu-west-1",
        domain: "mypurecloud.ie",
    },
    Region {
        name: "eu-west-2",
        domain: "euw2.pure.cloud",
    },
    Region {
        name: "eu-central-1",
        domain: "mypurecloud.de",
    },
    Region {
        name: "eu-central-2",
        domain: "euc2.pure.cloud",
    },
    Region {
        name: "ap-south-1",
        domain: "aps1.pure.cloud",
    },
    Region {
        name: "ap-northeast-1",
        domain: "mypurecloud.jp",
    },
    Region {
        name: "ap-northeast-2",
        domain: "apne2.pure.cloud",
    },
    Region {
        name: "ap-northeast-3",
        domain: "apne3.pure.cloud",
    },
    Region {
        name: "ap-southeast-2",
        domain: "mypurecloud.com.au",
    },
    Region {
        name: "ap-southeast-1",
        domain: "apse1.pure.cloud",
    },
    Region {
        name: "sa-east-1",
        domain: "sae1.pure.cloud",
    },
    Region {
        name: "me-central-1",
        domain: "mec1.pure.cloud",
    },
    Region {
        name: "mx-central-1",
        domain: "mxc1.pure.cloud",
    },
    Region {
        name: "eusc-de-east-1",
        domain: "edee1.eusc-pure.cloud",
    },
];

/// The region called `name` (case-insensitive), if there is one.
pub fn lookup(name: &str) -> Option<&'static Region> {
    REGIONS
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
}

/// The region names, comma-separated, for error messages.
pub fn names() -> String {
    REGIONS
        .iter()
        .map(|r| r.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_hosts() {
        let r = lookup("US-EAST-1").unwrap();
        assert_eq!(r.api_base(), "https://api.mypurecloud.com");
        assert_eq!(r.login_base(), "https://login.mypurecloud.com");
        assert_eq!(lookup("eu-central-1").unwrap().domain, "mypurecloud.de");
        assert!(lookup("mars-1").is_none());
        assert_eq!(REGIONS.len(), 18);
    }
}
