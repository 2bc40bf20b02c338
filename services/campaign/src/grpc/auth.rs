//! Who is calling: the principal comes only from the `authorization`
//! credential, never from request fields. The authenticator lives in the
//! platform crate (`platform::access::auth`), shared by every service;
//! re-exported under its old path.

pub use platform::access::auth::{Authenticator, KEY_CACHE_TTL, Principal};
