//! The SDK used where no host runs. Its own test binary: no host may be built in this process.

use gumstack::{GumstackContext, GumstackError, get_credentials, get_credentials_sync};

#[test]
fn get_credentials_sync_without_a_host_is_no_auth_context() {
    let error = get_credentials_sync().unwrap_err();
    assert!(
        matches!(error, GumstackError::NoAuthContext { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("GumstackHost"), "{error}");
}

#[tokio::test]
async fn get_credentials_outside_a_request_is_no_auth_context() {
    let error = get_credentials().await.unwrap_err();
    assert!(
        matches!(error, GumstackError::NoAuthContext { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no authentication context: get_credentials() was called outside a tool call handled \
         by GumstackHost"
    );
}

#[test]
fn the_context_outside_a_request_is_no_auth_context() {
    let error = GumstackContext::current().unwrap_err();
    assert!(
        matches!(error, GumstackError::NoAuthContext { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("outside a tool call"), "{error}");
}
