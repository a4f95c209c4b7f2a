//! The participant directory's network side: its HTTP API ([`api`]), bearer tokens ([`jwt`]), federation
//! between directory servers ([`federation`], signed with [`signature`]), and identity proofs by DNS
//! ([`dns`]) and OpenID Connect ([`oidc`]). The directory itself (rules, search, stores) is
//! `registrar-directory`; this module only carries it over the network.

pub(crate) mod api;
pub(crate) mod dns;
pub(crate) mod federation;
pub(crate) mod jwt;
pub(crate) mod oidc;
pub(crate) mod signature;
