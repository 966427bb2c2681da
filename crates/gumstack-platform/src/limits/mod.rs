//! Rate limits the surfaces share state through: failed logins ([`LoginLimiter`]) and dynamic
//! client registrations ([`RegistrationLimiter`]).

mod login;
mod registration;

pub(crate) use login::LoginLimiter;
pub(crate) use registration::RegistrationLimiter;
