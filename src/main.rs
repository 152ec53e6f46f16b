//! The plugin binary. Terraform/OpenTofu start it; run by hand it explains what it is.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    terraform_provider_maestro::protocol::serve(terraform_provider_maestro::maestro_provider()).await
}
