//! Code outside requests once a host is built. Its own test binary: exactly one host is built
//! in this process, so the process-wide host state is this test's.

mod common;

use gumstack::{
    Config, GumstackContext, GumstackError, GumstackHost, get_credentials, get_credentials_sync,
};

#[tokio::test]
async fn after_the_host_is_built_sync_credentials_work_outside_requests() {
    let config = Config::parse(common::NONE_CONFIG).unwrap();
    let env = common::local_env(&[("LOCAL_GREETING", "Hi")]);
    let _router = GumstackHost::new(config, common::Probe::default())
        .with_env(env)
        .router()
        .unwrap();

    let credentials = get_credentials_sync().unwrap();
    assert_eq!(credentials.get("greeting"), Some("Hi"));
    assert_eq!(credentials.get("farewell"), None);
    assert_eq!(format!("{credentials:?}"), r#"{"greeting": "[REDACTED]"}"#);

    // The async form and the caller still need a request.
    let error = get_credentials().await.unwrap_err();
    assert!(
        matches!(error, GumstackError::NoAuthContext { .. }),
        "{error:?}"
    );
    assert!(GumstackContext::current().is_err());
}
