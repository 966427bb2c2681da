//! Rate limits the surfaces share state through: failed logins ([`LoginLimiter`]) and dynamic
//! client registrations ([`RegistrationLimiter`]).

mod login;
mod registration;

pub use login::LoginLimiter;
pub use registration::RegistrationLimiter;
