//! go-plugin's handshake: check the magic cookie, agree on the protocol version, bind a
//! listener, and announce it on stdout in one line. Nothing else may ever be written to
//! stdout, or the CLI reports "Unrecognized remote plugin message".

use std::io::Write;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own protocol version (the first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol major version this binary speaks.
pub const APP_PROTOCOL_VERSION: u32 = 6;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HandshakeError {
    #[error(
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Please execute the program that consumes these plugins, which will\n\
         load any plugins automatically (terraform-provider-maestro is loaded by Terraform or OpenTofu)."
    )]
    NotLaunchedByClient,
    #[error("the client offers plugin protocol versions {offered:?}, but this provider speaks only version {APP_PROTOCOL_VERSION}; use Terraform >= 1.0 or OpenTofu >= 1.6")]
    NoCommonVersion { offered: String },
    #[error(
        "terraform-provider-maestro: refusing to serve without AutoMTLS: PLUGIN_CLIENT_CERT is not set.\n\
         Terraform and OpenTofu start providers with AutoMTLS: they pass their client certificate in\n\
         PLUGIN_CLIENT_CERT and the provider accepts no other client. Without it this provider would\n\
         serve unauthenticated gRPC on a loopback port, where any local user could connect and make it\n\
         act with your AWS credentials.\n\
         - Let Terraform or OpenTofu start the provider, and do not set TF_DISABLE_PLUGIN_TLS.\n\
         - To debug the provider, start it yourself with `terraform-provider-maestro -debug`, export the\n\
           TF_REATTACH_PROVIDERS='...' line it prints, and run the CLI in that shell; it attaches to the\n\
           running process (which then serves without authentication, as its warning explains)."
    )]
    NoAutoMtls,
}

/// Checks how we were launched; `env` is the process environment as a lookup function.
pub fn negotiate(env: impl Fn(&str) -> Option<String>) -> Result<u32, HandshakeError> {
    if env(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NotLaunchedByClient);
    }
    match env("PLUGIN_PROTOCOL_VERSIONS") {
        // Without the list, go-plugin assumes the plugin's own version.
        None => Ok(APP_PROTOCOL_VERSION),
        Some(offered) => {
            let speaks = offered.split(',').any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION));
            if speaks {
                Ok(APP_PROTOCOL_VERSION)
            } else {
                Err(HandshakeError::NoCommonVersion { offered })
            }
        }
    }
}

/// The client certificate (PEM) the CLI handed over for AutoMTLS. Its absence is an error: the
/// plugin never serves unauthenticated when started as a plugin (see [`HandshakeError::NoAutoMtls`]).
pub fn client_certificate(env: impl Fn(&str) -> Option<String>) -> Result<String, HandshakeError> {
    env("PLUGIN_CLIENT_CERT").filter(|pem| !pem.trim().is_empty()).ok_or(HandshakeError::NoAutoMtls)
}

/// The port range the client allows (`PLUGIN_MIN_PORT`..=`PLUGIN_MAX_PORT`), if it set one.
pub fn port_range(env: impl Fn(&str) -> Option<String>) -> Option<(u16, u16)> {
    let min = env("PLUGIN_MIN_PORT")?.parse().ok()?;
    let max = env("PLUGIN_MAX_PORT")?.parse().ok()?;
    (min <= max).then_some((min, max))
}

/// Binds a loopback TCP listener, inside the client's port range when it gave one.
pub async fn bind(range: Option<(u16, u16)>) -> std::io::Result<tokio::net::TcpListener> {
    if let Some((min, max)) = range {
        for port in min..=max {
            if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                return Ok(l);
            }
        }
    }
    tokio::net::TcpListener::bind(("127.0.0.1", 0)).await
}

/// `1|6|tcp|127.0.0.1:PORT|grpc|<server cert DER, base64 standard alphabet, no padding>`.
pub fn handshake_line(version: u32, addr: std::net::SocketAddr, server_cert_der: Option<&[u8]>) -> String {
    use base64::Engine;
    let cert = server_cert_der.map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der)).unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{version}|tcp|{addr}|grpc|{cert}\n")
}

/// Where a debug-mode server listens, as `TF_REATTACH_PROVIDERS` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReattachAddr {
    Unix(std::path::PathBuf),
    Tcp(std::net::SocketAddr),
}

/// The `TF_REATTACH_PROVIDERS` value for one provider served in debug mode: a JSON object keyed by
/// the provider's source address, in the shape terraform-plugin-go prints and Terraform and OpenTofu
/// parse (`{"ADDR":{"Protocol":"grpc","ProtocolVersion":6,"Pid":N,"Test":true,"Addr":{"Network":
/// "unix","String":"/path"}}}`). `Test: true` tells the CLI that it does not own the process: it
/// neither stops nor kills it when done, so one debug session serves many CLI runs.
pub fn reattach_providers(provider_address: &str, pid: u32, addr: &ReattachAddr) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Config<'a> {
        protocol: &'a str,
        protocol_version: u32,
        pid: u32,
        test: bool,
        addr: Addr,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Addr {
        network: &'static str,
        string: String,
    }
    let addr = match addr {
        ReattachAddr::Unix(path) => Addr { network: "unix", string: path.to_string_lossy().into_owned() },
        ReattachAddr::Tcp(socket) => Addr { network: "tcp", string: socket.to_string() },
    };
    let config = Config { protocol: "grpc", protocol_version: APP_PROTOCOL_VERSION, pid, test: true, addr };
    let mut providers = serde_json::Map::new();
    providers.insert(provider_address.to_string(), serde_json::to_value(config).expect("plain data serialises"));
    serde_json::Value::Object(providers).to_string()
}

/// What debug mode prints on stdout: terraform-plugin-go's wording, with the variable quoted for
/// the user's shell.
pub fn reattach_instructions(reattach: &str) -> String {
    let mut text = String::from(
        "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable with the following:\n\n",
    );
    if cfg!(windows) {
        text += &format!("\tCommand Prompt:\tset \"TF_REATTACH_PROVIDERS={reattach}\"\n");
        text += &format!("\tPowerShell:\t$env:TF_REATTACH_PROVIDERS='{}'\n", reattach.replace('\'', "''"));
    } else {
        text += &format!("\tTF_REATTACH_PROVIDERS='{}'\n", reattach.replace('\'', "'\"'\"'"));
    }
    text.push('\n');
    text
}

pub fn announce(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn refuses_to_run_without_the_cookie() {
        assert_eq!(negotiate(env(&[])), Err(HandshakeError::NotLaunchedByClient));
        assert_eq!(negotiate(env(&[(MAGIC_COOKIE_KEY, "wrong")])), Err(HandshakeError::NotLaunchedByClient));
    }

    #[test]
    fn picks_version_six_from_any_order() {
        let e = env(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_PROTOCOL_VERSIONS", "6,5")]);
        assert_eq!(negotiate(e), Ok(6));
        let e = env(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_PROTOCOL_VERSIONS", "5")]);
        assert!(matches!(negotiate(e), Err(HandshakeError::NoCommonVersion { .. })));
    }

    #[test]
    fn handshake_line_uses_unpadded_standard_base64() {
        let addr: std::net::SocketAddr = "127.0.0.1:10001".parse().unwrap();
        // 4 bytes encode to 6 characters plus "==" padding in padded base64.
        let line = handshake_line(6, addr, Some(&[0xfb, 0xff, 0x01, 0x02]));
        assert_eq!(line, "1|6|tcp|127.0.0.1:10001|grpc|+/8BAg\n");
        assert_eq!(handshake_line(6, addr, None), "1|6|tcp|127.0.0.1:10001|grpc|\n");
    }

    #[test]
    fn automtls_is_required() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(client_certificate(env(&[("PLUGIN_CLIENT_CERT", pem)])).as_deref(), Ok(pem));
        for unset in [env(&[]), env(&[("PLUGIN_CLIENT_CERT", "")]), env(&[("PLUGIN_CLIENT_CERT", " \n")])] {
            assert_eq!(client_certificate(unset), Err(HandshakeError::NoAutoMtls));
        }
        let text = HandshakeError::NoAutoMtls.to_string();
        for needed in ["PLUGIN_CLIENT_CERT", "AutoMTLS", "-debug", "TF_REATTACH_PROVIDERS", "TF_DISABLE_PLUGIN_TLS"] {
            assert!(text.contains(needed), "{needed} missing from {text}");
        }
    }

    #[test]
    fn reattach_config_has_the_shape_the_cli_parses() {
        let unix = ReattachAddr::Unix("/tmp/maestro-debug-1/plugin".into());
        let json = reattach_providers("registry.terraform.io/maestro-iac/maestro", 4242, &unix);
        assert_eq!(
            json,
            r#"{"registry.terraform.io/maestro-iac/maestro":{"Protocol":"grpc","ProtocolVersion":6,"Pid":4242,"Test":true,"Addr":{"Network":"unix","String":"/tmp/maestro-debug-1/plugin"}}}"#
        );
        let tcp = ReattachAddr::Tcp("127.0.0.1:10001".parse().unwrap());
        let json: serde_json::Value = serde_json::from_str(&reattach_providers("x/y/maestro", 1, &tcp)).unwrap();
        assert_eq!(json["x/y/maestro"]["Addr"], serde_json::json!({"Network": "tcp", "String": "127.0.0.1:10001"}));
    }

    #[cfg(unix)]
    #[test]
    fn reattach_instructions_quote_for_the_shell() {
        let text = reattach_instructions(r#"{"a":"it's"}"#);
        assert!(text.starts_with("Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS"), "{text}");
        assert!(text.contains("\tTF_REATTACH_PROVIDERS='{\"a\":\"it'\"'\"'s\"}'\n"), "{text}");
    }

    #[test]
    fn port_range_is_read_when_sane() {
        assert_eq!(port_range(env(&[("PLUGIN_MIN_PORT", "10000"), ("PLUGIN_MAX_PORT", "25000")])), Some((10000, 25000)));
        assert_eq!(port_range(env(&[("PLUGIN_MIN_PORT", "5"), ("PLUGIN_MAX_PORT", "1")])), None);
    }
}
